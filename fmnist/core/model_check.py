"""The model check: an .onnx file is code that onnxruntime runs, so before a session is made from it, it must look like
what fmnist's exporters write.

- operators from an allow-list (`fmnist.core.onnx_shapes.RULES`: convolutions, pooling, products, activations,
  quantize/dequantize, reshapes): no Loop, Scan, If, Tile, Expand, Resize, ConstantOfShape, no subgraphs, no
  functions, no operator of another domain;
- one float input, fixed in every dimension but the batch;
- every initializer holds exactly the bytes its dimensions declare (nothing stored outside the file);
- every tensor the graph makes has a shape known before the run; in one of the runtime's calls (`fmnist.core.calls`)
  no tensor takes over `MAX_CALL_BYTES` and those alive at once no more than `MAX_CALL_LIVE`, and an image costs at
  most `MAX_IMAGE_WORK` multiply-adds, so a run's memory and time are bounded before it starts.

The file is parsed with protobuf against the part of ONNX's schema that the check reads (`fmnist.core.onnx_proto`);
`onnx` itself is never imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from fmnist.core.calls import rows_per_call
from fmnist.core.errors import ModelError, printable
from fmnist.core.onnx_proto import model_class
from fmnist.core.onnx_shapes import RULES, Dim, Info, Node, Unfollowable, values, work

MAX_NODES = 10_000  # Lite0 int8 has 281
MAX_RANK = 8
# Bounds on one call of `calls.rows_per_call` images (how the runtime runs many images; bench's --batch is held to
# `Checked.max_rows`), in bytes: a tensor's values times its type's size. In such a call the notebook CNN (fp32) makes
# an 87 MB tensor at most and holds 173 MB at once; the photo model 25 MB and 48 MB (it may take 66 images a call,
# so bench's documented batch of 64 fits).
MAX_CALL_BYTES = 192_000_000  # one tensor (48 M floats)
# held at once: the tensors alive in graph order, plus the constants and what is made from them alone, which
# onnxruntime keeps for the whole session. Its arena, which grows by doubling, held 2.3 times this for float tensors
# of 64 MB, so a graph at the limit stays under 1 GB.
MAX_CALL_LIVE = 320_000_000
MAX_IMAGE_WORK = 10_000_000_000  # multiply-adds or comparisons for one image (Lite0 at 224 px: 0.4 G)
MAX_VALUES_KEPT = 64  # integer constants up to this size are followed by value (shapes, axes, indices)
ONNX_DOMAINS = ("", "ai.onnx")
FLOAT = 1
# TensorProto.DataType -> (bytes per value, the typed field that holds it when raw_data is not used)
DATA_TYPES: dict[int, tuple[int, str]] = {
    1: (4, "float_data"), 2: (1, "int32_data"), 3: (1, "int32_data"), 4: (2, "int32_data"), 5: (2, "int32_data"),
    6: (4, "int32_data"), 7: (8, "int64_data"), 9: (1, "int32_data"), 10: (2, "int32_data"), 11: (8, "double_data"),
    12: (4, "uint64_data"), 13: (8, "uint64_data"), 16: (2, "int32_data"),
}
INTEGER_TYPES = {6: "<i4", 7: "<i8"}
# AttributeProto.AttributeType: FLOAT, INT, STRING, TENSOR, FLOATS, INTS (no graphs, sparse tensors or type protos)
ATTRIBUTE_FIELDS = {1: "f", 2: "i", 3: "s", 4: "t", 6: "floats", 7: "ints"}


class Refused(ModelError):
    """A model file that is not what fmnist's exporters write: it never reaches onnxruntime."""


@dataclass(frozen=True)
class Checked:
    """What the check followed: every tensor's shape by name, the most values alive at once and the work, for one
    call of `rows` images."""

    shapes: dict[str, Info]
    rows: int
    largest: int  # bytes of the largest tensor in a call of `rows` images
    live: int  # bytes alive at once, at the peak
    work: int  # multiply-adds or comparisons for one image

    def max_rows(self) -> int:
        """The most images one call may take within the bounds (what is not batched does not grow: a lower bound)."""
        return max(1, math.floor(self.rows * min(MAX_CALL_BYTES / self.largest, MAX_CALL_LIVE / self.live)))


def check_model(data: bytes, where: str) -> Checked:
    """Refuse (`Refused`, exit 4) an ONNX file that fmnist would not run safely; otherwise, what the check
    followed."""
    try:
        model = model_class().FromString(data)
    except (DecodeError, RecursionError, ValueError) as e:
        raise ModelError(f"{where} is not a loadable ONNX model ({printable(e, 120)})") from e
    try:
        return _check(model)
    except Unfollowable as e:
        raise Refused(f"{where} is refused before it runs: {printable(e, 200)}. fmnist runs only what its exporters "
                      "write (a fixed-size graph of convolutions, products and activations); export the model again "
                      "with fmnist export") from e


def _check(model: Any) -> Checked:
    graph = model.graph
    if model.functions or graph.sparse_initializer:
        raise Unfollowable("it defines functions or sparse initializers")
    if len(graph.node) > MAX_NODES:
        raise Unfollowable(f"{len(graph.node)} nodes, over the {MAX_NODES} allowed")
    known = {t.name: _tensor(t, "initializer") for t in graph.initializer}
    name, image = _graph_input(graph, known)
    known[name] = image
    rows = rows_per_call(tuple(d.size for d in image.shape[1:]))
    sizes = {t.name: DATA_TYPES[t.data_type][0] for t in graph.initializer}
    sizes[name] = DATA_TYPES[FLOAT][0]
    last_use = {n: i for i, node in enumerate(graph.node) for n in node.input if n}
    for output in graph.output:
        last_use[output.name] = len(graph.node)
    alive = {name: _call_bytes(image.shape, sizes[name], rows)}
    # what onnxruntime keeps for the whole session: the initializers, and every tensor made from them alone, which
    # it folds into new initializers when it loads the graph
    constant = set(sizes) - {name}
    kept = sum(_call_bytes(known[n].shape, sizes[n], rows) for n in constant)
    peak = largest = total = 0
    for i, node in enumerate(graph.node):
        made, cost = _follow(node, known, sizes, rows)
        total += cost
        size = _call_bytes(known[made].shape, sizes[made], rows)
        if all(n in constant for n in node.input if n):
            constant.add(made)
            kept += size
        else:
            alive[made] = size
        largest, peak = max(largest, size), max(peak, kept + sum(alive.values()))
        if size > MAX_CALL_BYTES:
            raise Unfollowable(f"{node.op_type} node {node.name!r} makes {size:,} bytes in one call of {rows} "
                               f"images, over the {MAX_CALL_BYTES:,} allowed")
        if peak > MAX_CALL_LIVE:
            raise Unfollowable(f"by {node.op_type} node {node.name!r} the graph holds {peak:,} bytes at once in a "
                               f"call of {rows} images (its constants and what is made from them alone included), "
                               f"over the {MAX_CALL_LIVE:,} allowed")
        if total > MAX_IMAGE_WORK:
            raise Unfollowable(f"by {node.op_type} node {node.name!r} the graph does {total:,} multiply-adds or "
                               f"comparisons an image, over the {MAX_IMAGE_WORK:,} allowed")
        for gone in [n for n in alive if last_use.get(n, -1) <= i]:
            del alive[gone]
    for output in graph.output:
        _declared_as_made(output, known)
    return Checked(known, rows, max(largest, 1), max(peak, 1), total)


def _call_bytes(shape: tuple[Dim, ...], itemsize: int, rows: int) -> int:
    return values(shape) * itemsize * (rows if any(d.batch for d in shape) else 1)


def _itemsize(node: Any, attrs: dict[str, Any], sizes: dict[str, int]) -> int:
    """Bytes a value of the node's output takes: int8/uint8 out of QuantizeLinear (its zero point's type), float out
    of DequantizeLinear, a Cast's type, int64 out of Shape, a Constant's type; the first input's otherwise."""
    op, inputs = node.op_type, list(node.input)
    if op == "QuantizeLinear":
        return sizes[inputs[2]] if len(inputs) > 2 and inputs[2] else 1
    if op == "DequantizeLinear":
        return DATA_TYPES[FLOAT][0]
    if op == "Cast":
        if attrs.get("to") not in DATA_TYPES:  # a string (32 bytes a value, slow to format): no exporter casts to it
            raise Unfollowable(f"Cast node {node.name!r} to type {attrs.get('to')!r}, which is not a number type")
        return DATA_TYPES[attrs["to"]][0]
    if op == "Shape":
        return 8
    return sizes[inputs[0]] if inputs and inputs[0] else DATA_TYPES[FLOAT][0]


def _declared_as_made(output: Any, known: dict[str, Info]) -> None:
    """A graph output is made by a node, with the shape it declares (if it declares one): each fixed size it gives
    where the graph makes a fixed size (the batch may be declared by name or as a number)."""
    if output.name not in known:
        raise Unfollowable(f"output {output.name!r} is made by no node")
    if not output.type.tensor_type.HasField("shape"):
        return
    made, dims = known[output.name].shape, list(output.type.tensor_type.shape.dim)
    if len(dims) != len(made) or any(d.HasField("dim_value") and not m.batch and d.dim_value != m.size
                                     for d, m in zip(dims, made, strict=True)):
        declared = [d.dim_value if d.HasField("dim_value") else d.dim_param or "?" for d in dims]
        raise Unfollowable(f"output {output.name!r} declares the shape {declared}, but the graph makes "
                           f"[{', '.join(map(str, made))}]")


def _graph_input(graph: Any, known: dict[str, Info]) -> tuple[str, Info]:
    """The one input that is not an initializer: float, (batch, fixed...)."""
    inputs = [i for i in graph.input if i.name not in known]
    if len(inputs) != 1:
        raise Unfollowable(f"{len(inputs)} inputs; an fmnist model takes one image batch")
    value = inputs[0]
    tensor = value.type.tensor_type
    dims = list(tensor.shape.dim)
    if not value.type.HasField("tensor_type") or tensor.elem_type != FLOAT or not 2 <= len(dims) <= MAX_RANK:
        raise Unfollowable(f"input {value.name!r} is not a float tensor of rank 2 to {MAX_RANK}")
    if any(not d.HasField("dim_value") or d.dim_value < 1 for d in dims[1:]):
        raise Unfollowable(f"input {value.name!r} is not fixed in every dimension but the batch")
    shape = (Dim(1, True), *(Dim(d.dim_value) for d in dims[1:]))
    _bounded(value, shape, rows=1)
    return value.name, Info(shape)


def _tensor(t: Any, role: str) -> Info:
    """An initializer or a Constant's value: its bytes must be in the file, exactly as many as its dims declare."""
    dims = list(t.dims)
    if t.data_location or t.external_data:
        raise Unfollowable(f"{role} {t.name!r} keeps its data outside the file")
    if t.data_type not in DATA_TYPES or len(dims) > MAX_RANK or (dims and min(dims) < 0):
        raise Unfollowable(f"{role} {t.name!r}: type {t.data_type}, dims {dims[:MAX_RANK + 1]}")
    count = math.prod(dims)
    size, field = DATA_TYPES[t.data_type]
    has_raw = t.HasField("raw_data")
    held = len(t.raw_data) if has_raw else len(getattr(t, field)) * size
    if held != count * size:
        raise Unfollowable(f"{role} {t.name!r} declares {count} values of {size} bytes, but holds {held} bytes")
    values = None
    if t.data_type in INTEGER_TYPES and count <= MAX_VALUES_KEPT:
        raw = np.frombuffer(t.raw_data, INTEGER_TYPES[t.data_type]) if has_raw else getattr(t, field)
        values = tuple(Dim(int(v)) for v in raw)
    return Info(tuple(Dim(d) for d in dims), values)


def _attributes(node: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for a in node.attribute:
        if a.ref_attr_name or a.g or a.graphs or a.tensors or a.sparse_tensor or a.sparse_tensors:
            raise Unfollowable(f"{node.op_type} node {node.name!r} holds a subgraph or a reference")
        if a.type not in ATTRIBUTE_FIELDS:
            raise Unfollowable(f"{node.op_type} node {node.name!r}: attribute {a.name!r} of type {a.type}")
        value = getattr(a, ATTRIBUTE_FIELDS[a.type])
        if a.type == 4:
            value = _tensor(value, f"{node.op_type} node {node.name!r}'s attribute")
        elif a.type in (6, 7):
            value = list(value)
        attrs[a.name] = value
    return attrs


def _follow(node: Any, known: dict[str, Info], sizes: dict[str, int], rows: int) -> tuple[str, int]:
    """Check one node and record the shape of what it makes: its output's name, and its work for one image."""
    op = node.op_type
    if node.domain not in ONNX_DOMAINS or (op not in RULES and op != "Constant"):
        raise Unfollowable(f"operator {node.domain + '.' if node.domain else ''}{op} (node {node.name!r}) is not "
                           "one that fmnist's exporters write")
    outputs = [o for o in node.output if o]
    if len(outputs) != 1 or outputs[0] in known:
        raise Unfollowable(f"{op} node {node.name!r} makes {len(outputs)} outputs or one made before")
    for name in node.input:
        if name and name not in known:
            raise Unfollowable(f"{op} node {node.name!r} reads {name!r} before any node makes it")
    attrs = _attributes(node)
    if op == "Constant":
        if list(attrs) != ["value"] or not isinstance(attrs["value"], Info):
            raise Unfollowable(f"Constant node {node.name!r} without a tensor value")
        info, cost = attrs["value"], 0
    else:
        given = Node(op, [known[n] if n else None for n in node.input], attrs)
        try:
            info = RULES[op](given)
            cost = work(given, info)
        except Unfollowable:
            raise
        except (TypeError, AttributeError, IndexError, KeyError, ValueError, ZeroDivisionError, OverflowError) as e:
            raise Unfollowable(f"{op} node {node.name!r} has attributes or inputs of a kind its exporters never "
                               f"write ({type(e).__name__})") from e
    if info.values is not None and len(info.values) > MAX_VALUES_KEPT:
        info = Info(info.shape)  # a shape's values are a few numbers: larger ones are never followed by value
    _bounded(node, info.shape, rows)
    known[outputs[0]] = info
    sizes[outputs[0]] = DATA_TYPES[node.attribute[0].t.data_type][0] if op == "Constant" else _itemsize(node, attrs,
                                                                                                         sizes)
    return outputs[0], cost


def _bounded(source: Any, shape: tuple[Dim, ...], rows: int) -> None:
    """A tensor holds the batch at most once, is not empty and, in one call of `rows` images, has fewer values than
    MAX_CALL_BYTES (its bytes are checked by the caller).
    `source`: the node (or graph input) that makes it, named only in an error."""
    batched = sum(d.batch for d in shape)
    values = math.prod(d.size for d in shape) * (rows if batched else 1)
    if len(shape) <= MAX_RANK and batched <= 1 and 0 < values <= MAX_CALL_BYTES:
        return
    what = f"{source.op_type} node {source.name!r}" if hasattr(source, "op_type") else f"input {source.name!r}"
    if values > MAX_CALL_BYTES:
        raise Unfollowable(f"{what} makes {values:,} values in one call of {rows} images, more than the "
                           f"{MAX_CALL_BYTES:,} bytes allowed")
    shown = f"a tensor of shape [{', '.join(map(str, shape[:MAX_RANK + 1]))}]"
    if batched > 1:
        raise Unfollowable(f"{what} makes {shown}, which grows with the square of the batch")
    if values == 0:
        raise Unfollowable(f"{what} makes {shown}, which is empty")
    raise Unfollowable(f"{what} makes {shown}, of over {MAX_RANK} dimensions")
