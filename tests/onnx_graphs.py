"""ONNX graphs for the model check's tests: the attacks a hostile model file makes (a loop without end, a tile or a
broadcast that asks for gigabytes, a graph that fails when run), and random graphs of the operators fmnist's
exporters write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from crafted import meta_text
from onnx import TensorProto, helper, numpy_helper

SIDE = 28


def save(path: Path, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], output: str = "probs",
         width: int = 10, opset: int = 17) -> Path:
    """A model taking x (N, 28, 28, 1) floats, its output `output` declared (N, width), with fmnist's metadata."""
    graph = helper.make_graph(nodes, "attack", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                               ["N", SIDE, SIDE, 1])],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", width])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    helper.set_model_props(proto, {"fmnist": meta_text()})
    onnx.save(proto, str(path))
    return path


def _const(name: str, values: object, dtype: type = np.int64) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype), name)


def _head(source: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """`source` (N, anything) -> its mean per image -> 10 softmax probabilities: `probs` (N, 10)."""
    return ([helper.make_node("ReduceMean", [source], ["mean"], axes=[1], keepdims=1),
             helper.make_node("MatMul", ["mean", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)],
            [numpy_helper.from_array(np.linspace(-1, 1, 10, dtype=np.float32)[None], "w")])


def flat() -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """x -> (N, 784) `flat`."""
    return [helper.make_node("Reshape", ["x", "flat_shape"], ["flat"])], [_const("flat_shape", [-1, SIDE * SIDE])]


def endless_loop(path: Path) -> Path:
    """A Loop whose condition never turns false and whose trip count is unbounded: runs for ever."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["v_in"], ["v_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)])
    nodes, inits = flat()
    head, head_inits = _head("looped")
    nodes += [helper.make_node("Loop", ["", "true", "flat"], ["looped"], body=body), *head]
    return save(path, nodes, [*inits, _const("true", True, np.bool_), *head_inits])


def tile_bomb(path: Path, reps: int = 4096) -> Path:
    """A few KB that tile the image `reps` x `reps` times: 784 * reps**2 values (13 G at 4096)."""
    nodes, inits = flat()
    head, head_inits = _head("tiled")
    nodes += [helper.make_node("Tile", ["flat", "reps"], ["tiled"]), *head]
    return save(path, nodes, [*inits, _const("reps", [1, reps * reps]), *head_inits])


def broadcast_bomb(path: Path) -> Path:
    """Only allowed operators, but (N, 784, 1) + (N, 1, 784) broadcasts to 614,656 values an image, then that again
    against itself: 3.8e11 values an image."""
    nodes, inits = flat()
    nodes += [helper.make_node("Reshape", ["flat", "col"], ["a"]), helper.make_node("Reshape", ["flat", "row"], ["b"]),
              helper.make_node("Add", ["a", "b"], ["square"]),
              helper.make_node("Reshape", ["square", "col"], ["a2"]),
              helper.make_node("Reshape", ["square", "row"], ["b2"]), helper.make_node("Add", ["a2", "b2"], ["big"])]
    head, head_inits = _head("big")
    return save(path, nodes + head, [*inits, _const("col", [0, -1, 1]), _const("row", [0, 1, -1]), *head_inits])


def batch_squared(path: Path) -> Path:
    """(N, 1) + (1, N): a tensor that grows with the square of the batch."""
    nodes, inits = flat()
    nodes += [helper.make_node("ReduceMean", ["flat"], ["m"], axes=[1], keepdims=1),
              helper.make_node("Transpose", ["m"], ["mt"], perm=[1, 0]), helper.make_node("Add", ["m", "mt"], ["nn"])]
    head, head_inits = _head("nn")
    return save(path, nodes + head, inits + head_inits)


def fails_when_run(path: Path) -> Path:
    """Allowed operators and fixed shapes, but each image plus image 5 of the batch: a batch of one fails in the
    run."""
    nodes, inits = flat()
    nodes += [helper.make_node("Gather", ["flat", "five"], ["fifth"], axis=0),
              helper.make_node("Add", ["flat", "fifth"], ["plus"])]
    head, head_inits = _head("plus")
    return save(path, nodes + head, [*inits, _const("five", [5]), *head_inits])


def good(path: Path) -> Path:
    """What an exporter writes, small: a flatten as tf2onnx writes it (Shape, Gather, Concat, Reshape), a product."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]), helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
             helper.make_node("Concat", ["n", "width"], ["flat_shape"], axis=0),
             helper.make_node("Reshape", ["x", "flat_shape"], ["flat"])]
    head, head_inits = _head("flat")
    return save(path, nodes + head, [_const("zero", [0]), _const("width", [SIDE * SIDE]), *head_inits])


def _grafted(path: Path, branch: list[onnx.NodeProto], inits: list[onnx.TensorProto], out: str) -> Path:
    """A classifier whose answer also adds 0 x (the mean of `out`, made by `branch`): the branch runs, the answer is
    the image's."""
    nodes, flat_inits = flat()
    nodes += [*branch, helper.make_node("ReduceMean", [out], ["branch_mean"], keepdims=0),
              helper.make_node("Mul", ["branch_mean", "zero_f"], ["nil"]),
              helper.make_node("Add", ["flat", "nil"], ["mixed"])]
    head, head_inits = _head("mixed")
    return save(path, nodes + head, [*flat_inits, *inits, numpy_helper.from_array(np.array(0, np.float32), "zero_f"),
                                    *head_inits])


def _square(side: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """x's mean over everything, broadcast to a (1, 1, side, side) square: not batched, so only its size counts."""
    return ([helper.make_node("ReduceMean", ["x"], ["one"], keepdims=1),
             helper.make_node("Add", ["one", "col"], ["c"]), helper.make_node("Add", ["c", "row"], ["square"])],
            [numpy_helper.from_array(np.ones((1, 1, side, 1), np.float32), "col"),
             numpy_helper.from_array(np.ones((1, 1, 1, side), np.float32), "row")])


def endless_pooling(path: Path) -> Path:
    """Allowed operators within every size bound: a 2000 x 2000 max-pool over a 4000 x 4000 square, 1.6e13
    comparisons (it ran for ever)."""
    nodes, inits = _square(4000)
    nodes.append(helper.make_node("MaxPool", ["square"], ["pooled"], kernel_shape=[2000, 2000]))
    return _grafted(path, nodes, inits, "pooled")


def many_alive(path: Path, copies: int = 24) -> Path:
    """A 4000 x 4000 square (64 MB) copied `copies` times and summed: every copy alive at once (3.4 GB at 24)."""
    nodes, inits = _square(4000)
    for i in range(copies):
        inits.append(numpy_helper.from_array(np.array(float(i), np.float32), f"c{i}"))
        nodes.append(helper.make_node("Add", ["square", f"c{i}"], [f"t{i}"]))
    nodes.append(helper.make_node("Sum", [f"t{i}" for i in range(copies)], ["summed"]))
    return _grafted(path, nodes, inits, "summed")


def doubling_shape(path: Path, steps: int = 40) -> Path:
    """An int64 constant of 64 values concatenated with itself `steps` times: its values double each time (the
    check once kept them all: 8 GB)."""
    nodes = [helper.make_node("Concat", [f"v{i}", f"v{i}"], [f"v{i + 1}"], axis=0) for i in range(min(steps, 18))]
    return _grafted(path, [*nodes, helper.make_node("Cast", [f"v{len(nodes)}"], ["v_float"], to=TensorProto.FLOAT)],
                    [_const("v0", np.arange(64))], "v_float")


def attribute_of_another_type(path: Path) -> Path:
    """A Flatten whose axis is text: no exporter writes it (the check's rule once raised a TypeError)."""
    branch = [helper.make_node("Flatten", ["x"], ["flattened"])]
    branch[0].attribute.append(helper.make_attribute("axis", "one"))
    return _grafted(path, branch, [], "flattened")


def metadata_not_utf8(path: Path) -> Path:
    """A good model whose metadata value holds a byte that is not UTF-8."""
    good(path)
    proto = onnx.load(str(path))
    proto.metadata_props[0].value = "x"
    data = proto.SerializeToString().replace(b"\x12\x01x", b"\x12\x01\xff")
    path.write_bytes(data)
    return path


def folded_constants(path: Path, copies: int = 6) -> Path:
    """`copies` 64 MB squares made from initializers alone, each used by one node: onnxruntime folds every one into
    an initializer at load and keeps them all (20 took 1.5 GB), though each is alive for one node in graph order."""
    nodes, inits = [], [numpy_helper.from_array(np.ones((1, 1, 4000, 1), np.float32), "col")]
    for i in range(copies):
        inits.append(numpy_helper.from_array(np.full((1, 1, 1, 4000), i, np.float32), f"row{i}"))
        nodes += [helper.make_node("Add", ["col", f"row{i}"], [f"square{i}"]),
                  helper.make_node("ReduceMean", [f"square{i}"], [f"m{i}"], keepdims=0)]
    nodes.append(helper.make_node("Sum", [f"m{i}" for i in range(copies)], ["folded"]))
    return _grafted(path, nodes, inits, "folded")


def cast_to_text(path: Path) -> Path:
    """A Cast of the image to strings and back: 32 bytes and a formatting a value (24 M values took 7.7 s a run)."""
    return _grafted(path, [helper.make_node("Cast", ["x"], ["text"], to=TensorProto.STRING),
                           helper.make_node("Cast", ["text"], ["back"], to=TensorProto.FLOAT)], [], "back")
