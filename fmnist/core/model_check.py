"""The model check: an .onnx file is code that onnxruntime runs, so before a session is made from it, it must look like
what fmnist's exporters write.

- operators from an allow-list (`fmnist.core.onnx_shapes.RULES`: convolutions, pooling, products, activations,
  quantize/dequantize, reshapes): no Loop, Scan, If, Tile, Expand, Resize, ConstantOfShape, no subgraphs, no
  functions, no operator of another domain;
- one float input, fixed in every dimension but the batch;
- every initializer holds exactly the bytes its dimensions declare (nothing stored outside the file);
- every tensor the graph makes has a shape known before the run, and at most `MAX_CALL_VALUES` values in one of the
  runtime's calls (`fmnist.core.calls`), so a run's memory is bounded before it starts.

The file is parsed with protobuf against the part of ONNX's schema that the check reads (`fmnist.core.onnx_proto`);
`onnx` itself is never imported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from fmnist.core.calls import rows_per_call
from fmnist.core.errors import ModelError, printable
from fmnist.core.onnx_proto import model_class
from fmnist.core.onnx_shapes import RULES, Dim, Info, Node, Unfollowable

MAX_NODES = 10_000  # Lite0 int8 has 281
MAX_RANK = 8
MAX_CALL_VALUES = 32_000_000  # values of one tensor in one call (128 MB of float); the notebook CNN makes 22 M,
# the photo model 2 M
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


def check_model(data: bytes, where: str) -> dict[str, Info]:
    """Refuse (`Refused`, exit 4) an ONNX file that fmnist would not run safely; otherwise, the shape of every
    tensor it holds or makes, by name."""
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


def _check(model: Any) -> dict[str, Info]:
    graph = model.graph
    if model.functions or graph.sparse_initializer:
        raise Unfollowable("it defines functions or sparse initializers")
    if len(graph.node) > MAX_NODES:
        raise Unfollowable(f"{len(graph.node)} nodes, over the {MAX_NODES} allowed")
    known = {t.name: _tensor(t, "initializer") for t in graph.initializer}
    name, image = _graph_input(graph, known)
    known[name] = image
    rows = rows_per_call(tuple(d.size for d in image.shape[1:]))
    for node in graph.node:
        _follow(node, known, rows)
    for output in graph.output:
        _declared_as_made(output, known)
    return known


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


def _follow(node: Any, known: dict[str, Info], rows: int) -> None:
    """Check one node and record the shape of what it makes."""
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
        if list(attrs) != ["value"]:
            raise Unfollowable(f"Constant node {node.name!r} without a tensor value")
        info = attrs["value"]
    else:
        info = RULES[op](Node(op, [known[n] if n else None for n in node.input], attrs))
    _bounded(node, info.shape, rows)
    known[outputs[0]] = info


def _bounded(source: Any, shape: tuple[Dim, ...], rows: int) -> None:
    """A tensor holds the batch at most once and, in one call of `rows` images, at most MAX_CALL_VALUES values.
    `source`: the node (or graph input) that makes it, named only in an error."""
    batched = sum(d.batch for d in shape)
    values = math.prod(d.size for d in shape) * (rows if batched else 1)
    if len(shape) <= MAX_RANK and batched <= 1 and 0 < values <= MAX_CALL_VALUES:
        return
    what = f"{source.op_type} node {source.name!r}" if hasattr(source, "op_type") else f"input {source.name!r}"
    if values > MAX_CALL_VALUES:
        raise Unfollowable(f"{what} makes {values:,} values in one call of {rows} images, over the "
                           f"{MAX_CALL_VALUES:,} allowed")
    shown = f"a tensor of shape [{', '.join(map(str, shape[:MAX_RANK + 1]))}]"
    if batched > 1:
        raise Unfollowable(f"{what} makes {shown}, which grows with the square of the batch")
    if values == 0:
        raise Unfollowable(f"{what} makes {shown}, which is empty")
    raise Unfollowable(f"{what} makes {shown}, of over {MAX_RANK} dimensions")
