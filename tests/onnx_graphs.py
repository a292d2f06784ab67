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
