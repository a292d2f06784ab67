"""What each operator the model check allows gives, as a shape: ONNX shape inference for that short list, with the
batch kept as a symbol, so that the size of every tensor a model makes is known before onnxruntime runs it.

A dimension is `Dim(size, batch)`: `size` alone, or `size` times the batch. A tensor holds at most one batched
dimension (two would grow with the square of the batch). Small integer tensors (shapes, axes, indices) carry their
values too, as `Dim`s, so that a shape computed by `Shape -> Gather -> Concat -> Reshape` (tf2onnx's flatten) is
followed exactly. Anything these rules cannot follow raises `Unfollowable`: the model check refuses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple


class Unfollowable(ValueError):
    """A node whose output shape these rules cannot know, or which would not run."""


class Dim(NamedTuple):
    size: int
    batch: bool = False  # size x the batch

    def __str__(self) -> str:
        return ("batch" if self.size == 1 else f"{self.size}*batch") if self.batch else str(self.size)


ONE = Dim(1)


class Info(NamedTuple):
    """A tensor: its shape, and its values when it is a small integer tensor known before the run."""

    shape: tuple[Dim, ...]
    values: tuple[Dim, ...] | None = None

    @property
    def rank(self) -> int:
        return len(self.shape)


class Node(NamedTuple):
    op: str
    inputs: list[Info | None]  # None: an optional input left out
    attrs: dict[str, Any]  # int, float, bytes, list of ints or floats, or Info (a tensor attribute)


def ints(info: Info | None, what: str) -> list[int]:
    """The values of a small constant integer tensor (axes, pads, a shape without -1/0 magic)."""
    if info is None or info.values is None or any(v.batch for v in info.values):
        raise Unfollowable(f"{what} is not a constant")
    return [v.size for v in info.values]


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise Unfollowable(f"axis {axis} is outside a tensor of rank {rank}")
    return axis % rank


def _input(node: Node, i: int) -> Info:
    if i >= len(node.inputs) or node.inputs[i] is None:
        raise Unfollowable(f"input {i} is missing")
    return node.inputs[i]  # type: ignore[return-value]


def _broadcast(a: Sequence[Dim], b: Sequence[Dim]) -> tuple[Dim, ...]:
    a, b = (ONE,) * (len(b) - len(a)) + tuple(a), (ONE,) * (len(a) - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and ONE not in (x, y):
            raise Unfollowable(f"shapes {_text(a)} and {_text(b)} do not broadcast")
        out.append(y if x == ONE else x)
    return tuple(out)


def _text(shape: Sequence[Dim]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _same(node: Node) -> Info:
    first = _input(node, 0)
    return Info(first.shape, first.values if node.op in ("Cast", "Identity") else None)


def _elementwise(node: Node) -> Info:
    shapes = [i.shape for i in node.inputs if i is not None]
    if not shapes:
        raise Unfollowable("no inputs")
    out: tuple[Dim, ...] = shapes[0]
    for shape in shapes[1:]:
        out = _broadcast(out, shape)
    return Info(out)


def _window(node: Node, x: Info, kernel: list[int]) -> list[Dim]:
    """The spatial output of a convolution or pooling window over x's (N, C, *spatial)."""
    spatial = x.shape[2:]
    if len(kernel) != len(spatial) or any(d.batch for d in spatial) or min(kernel, default=1) < 1:
        raise Unfollowable(f"a window {kernel} over {_text(x.shape)}")
    n = len(spatial)
    strides = node.attrs.get("strides") or [1] * n
    dilations = node.attrs.get("dilations") or [1] * n
    pads = node.attrs.get("pads") or [0] * (2 * n)
    auto = node.attrs.get("auto_pad", b"NOTSET")
    if len(strides) != n or len(dilations) != n or len(pads) != 2 * n or min(*strides, *dilations) < 1 or min(pads) < 0:
        raise Unfollowable("strides, dilations or pads do not fit the window")
    if auto != b"NOTSET":  # tf2onnx writes explicit pads; onnxruntime's SAME and VALID have quirks of their own
        raise Unfollowable(f"auto_pad {auto!r}")
    out = []
    for i, d in enumerate(spatial):
        size = (d.size + pads[i] + pads[i + n] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1
        if size < 1:
            raise Unfollowable(f"a window of {kernel} does not fit {_text(x.shape)}")
        out.append(Dim(size))
    return out


def _conv(node: Node) -> Info:
    x, w = _input(node, 0), _input(node, 1)
    group = node.attrs.get("group", 1)
    if x.rank < 3 or w.rank != x.rank or any(d.batch for d in (*x.shape[1:], *w.shape)) or group < 1:
        raise Unfollowable(f"a convolution of {_text(x.shape)} by {_text(w.shape)}")
    if x.shape[1].size != w.shape[1].size * group or w.shape[0].size % group:
        raise Unfollowable(f"{x.shape[1]} channels in, weights {_text(w.shape)} in {group} groups")
    kernel = node.attrs.get("kernel_shape") or [d.size for d in w.shape[2:]]
    return Info((x.shape[0], w.shape[0], *_window(node, x, kernel)))


def _pool(node: Node) -> Info:
    """A pooling window, rounding down (no exporter writes ceil_mode), padding narrower than the window (as
    onnxruntime requires)."""
    x, kernel = _input(node, 0), list(node.attrs.get("kernel_shape") or [])
    if x.rank < 3 or any(d.batch for d in x.shape[1:]) or node.attrs.get("ceil_mode"):
        raise Unfollowable(f"a pooling window over {_text(x.shape)}, ceil_mode {node.attrs.get('ceil_mode', 0)}")
    if any(p >= kernel[i % len(kernel)] for i, p in enumerate(node.attrs.get("pads") or []) if kernel):
        raise Unfollowable(f"pooling pads {node.attrs['pads']} as wide as the window {kernel}")
    return Info((x.shape[0], x.shape[1], *_window(node, x, kernel)))


def _global_pool(node: Node) -> Info:
    x = _input(node, 0)
    if x.rank < 3:
        raise Unfollowable(f"a global pool over {_text(x.shape)}")
    return Info((x.shape[0], x.shape[1], *[ONE] * (x.rank - 2)))


def _matmul(node: Node) -> Info:
    a, b = _input(node, 0), _input(node, 1)
    if a.rank < 2 or b.rank < 2 or a.shape[-1] != b.shape[-2]:
        raise Unfollowable(f"a product of {_text(a.shape)} and {_text(b.shape)}")
    return Info((*_broadcast(a.shape[:-2], b.shape[:-2]), a.shape[-2], b.shape[-1]))


def _gemm(node: Node) -> Info:
    a, b = _input(node, 0), _input(node, 1)
    if a.rank != 2 or b.rank != 2:
        raise Unfollowable(f"Gemm of {_text(a.shape)} and {_text(b.shape)}")
    m, k = a.shape[::-1] if node.attrs.get("transA") else a.shape
    k2, n = b.shape[::-1] if node.attrs.get("transB") else b.shape
    if k != k2:
        raise Unfollowable(f"Gemm of {_text(a.shape)} and {_text(b.shape)}")
    out = (m, n)
    if len(node.inputs) > 2 and node.inputs[2] is not None and _broadcast(out, node.inputs[2].shape) != out:
        raise Unfollowable("Gemm's bias is wider than its output")
    return Info(out)


def _total(shape: Sequence[Dim]) -> Dim:
    batched = sum(d.batch for d in shape)
    if batched > 1:
        raise Unfollowable(f"{_text(shape)} holds the batch twice")
    return Dim(math.prod(d.size for d in shape), bool(batched))


def _reshape(node: Node) -> Info:
    x, target = _input(node, 0), _input(node, 1)
    if target.values is None:
        raise Unfollowable("a reshape to a shape not known before the run")
    out: list[Dim | None] = []
    for i, v in enumerate(target.values):
        if v == Dim(0) and not node.attrs.get("allowzero"):
            if i >= x.rank:
                raise Unfollowable("a reshape copies a dimension the input lacks")
            out.append(x.shape[i])
        elif v == Dim(-1):
            out.append(None)
        elif v.size < 0:
            raise Unfollowable(f"a reshape to {v.size}")
        else:
            out.append(v)
    total, known = _total(x.shape), _total([d for d in out if d is not None])
    if out.count(None) > 1:
        raise Unfollowable("a reshape with two -1s")
    if None in out:
        if known.size == 0 or total.size % known.size or known.batch > total.batch:
            raise Unfollowable(f"a reshape of {_text(x.shape)} to {_text([d or Dim(-1) for d in out])}")
        out[out.index(None)] = Dim(total.size // known.size, total.batch and not known.batch)
    elif known != total:
        raise Unfollowable(f"a reshape of {_text(x.shape)} to {_text(out)}")  # type: ignore[arg-type]
    return Info(tuple(out), x.values)  # type: ignore[arg-type]


def _flatten(node: Node) -> Info:
    x = _input(node, 0)
    axis = node.attrs.get("axis", 1)
    axis = axis % x.rank if -x.rank <= axis < 0 else axis
    if not 0 <= axis <= x.rank:
        raise Unfollowable(f"flatten at axis {axis} of {_text(x.shape)}")
    return Info((_total(x.shape[:axis]), _total(x.shape[axis:])))


def _transpose(node: Node) -> Info:
    x = _input(node, 0)
    perm = node.attrs.get("perm") or list(range(x.rank))[::-1]
    if sorted(perm) != list(range(x.rank)):
        raise Unfollowable(f"perm {perm} for rank {x.rank}")
    return Info(tuple(x.shape[p] for p in perm))


def _raw_axes(node: Node) -> list[int] | None:
    """The `axes` of Squeeze, Unsqueeze or a reduction: opset 13's input, or the older attribute."""
    given = node.inputs[1] if len(node.inputs) > 1 else None
    return ints(given, "axes") if given is not None else node.attrs.get("axes")


def _axes(node: Node, rank: int) -> list[int] | None:
    raw = _raw_axes(node)
    if raw is None:
        return None
    axes = sorted(_axis(a, rank) for a in raw)
    if len(set(axes)) != len(axes):
        raise Unfollowable(f"axes {raw} repeat")
    return axes


def _squeeze(node: Node) -> Info:
    x = _input(node, 0)
    axes = _axes(node, x.rank)
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == ONE]
    if any(x.shape[a] != ONE for a in axes):
        raise Unfollowable(f"squeeze of a dimension that is not 1 in {_text(x.shape)}")
    return Info(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.values)


def _unsqueeze(node: Node) -> Info:
    x = _input(node, 0)
    axes = _axes(node, x.rank + len(_raw_axes(node) or []))
    if not axes:
        raise Unfollowable("unsqueeze without axes")
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, ONE)
    return Info(tuple(shape), x.values)


def _reduce(node: Node) -> Info:
    x = _input(node, 0)
    axes = _axes(node, x.rank)
    axes = list(range(x.rank)) if axes is None else axes
    keep = node.attrs.get("keepdims", 1)
    return Info(tuple(ONE if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes))


def _concat(node: Node) -> Info:
    parts = [i for i in node.inputs if i is not None]
    if not parts or len({p.rank for p in parts}) != 1 or parts[0].rank == 0:
        raise Unfollowable("a concat of tensors of different ranks")
    axis = _axis(node.attrs.get("axis", 0), parts[0].rank)
    for p in parts[1:]:
        if any(a != b for i, (a, b) in enumerate(zip(parts[0].shape, p.shape, strict=True)) if i != axis):
            raise Unfollowable(f"a concat of {_text(parts[0].shape)} and {_text(p.shape)}")
    along = {p.shape[axis].batch for p in parts}
    if len(along) > 1:
        raise Unfollowable("a concat of a batched and a fixed dimension")
    shape = list(parts[0].shape)
    shape[axis] = Dim(sum(p.shape[axis].size for p in parts), along.pop())
    values = None
    if all(p.values is not None for p in parts):
        values = tuple(v for p in parts for v in p.values)  # type: ignore[union-attr]
    return Info(tuple(shape), values)


def _shape(node: Node) -> Info:
    x = _input(node, 0)
    dims = x.shape[slice(node.attrs.get("start", 0), node.attrs.get("end"))]
    return Info((Dim(len(dims)),), dims)


def _gather(node: Node) -> Info:
    data, indices = _input(node, 0), _input(node, 1)
    axis = _axis(node.attrs.get("axis", 0), data.rank)
    picks = ints(indices, "Gather's indices")
    if not data.shape[axis].batch and any(not -data.shape[axis].size <= p < data.shape[axis].size for p in picks):
        raise Unfollowable(f"Gather's indices {picks} reach outside {data.shape[axis]}")
    values = None
    if data.values is not None and data.rank == 1:
        values = tuple(data.values[p] for p in picks)
    return Info((*data.shape[:axis], *indices.shape, *data.shape[axis + 1 :]), values)


def _slice(node: Node) -> Info:
    x = _input(node, 0)
    starts, ends = ints(_input(node, 1), "Slice's starts"), ints(_input(node, 2), "Slice's ends")
    axes = ints(node.inputs[3], "Slice's axes") if len(node.inputs) > 3 and node.inputs[3] else list(range(len(starts)))
    steps = ints(node.inputs[4], "Slice's steps") if len(node.inputs) > 4 and node.inputs[4] else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise Unfollowable("Slice's starts, ends, axes and steps differ in length")
    shape, values = list(x.shape), x.values
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = _axis(axis, x.rank)
        d = shape[axis]
        if d.batch:  # the whole batch, or nothing to know
            if (start, step) != (0, 1) or end < 2**31 - 1:
                raise Unfollowable("a slice of the batch")
            continue
        picked = range(d.size)[slice(start, end, step)]
        shape[axis] = Dim(len(picked))
        if values is not None and x.rank == 1:
            values = tuple(values[p] for p in picked)
    return Info(tuple(shape), values if x.rank == 1 else None)


RULES: dict[str, Callable[[Node], Info]] = {
    **dict.fromkeys(("Relu", "Clip", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "LeakyRelu", "HardSigmoid",
                     "HardSwish", "Identity", "Cast", "QuantizeLinear", "DequantizeLinear", "BatchNormalization",
                     "Erf", "Exp", "Sqrt", "Neg", "Abs", "Elu"), _same),
    **dict.fromkeys(("Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "PRelu"), _elementwise),
    "Conv": _conv,
    **dict.fromkeys(("MaxPool", "AveragePool"), _pool),
    **dict.fromkeys(("GlobalAveragePool", "GlobalMaxPool"), _global_pool),
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    **dict.fromkeys(("ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum"), _reduce),
    "Concat": _concat,
    "Shape": _shape,
    "Gather": _gather,
    "Slice": _slice,
}


def values(shape: Sequence[Dim]) -> int:
    """Values of a tensor of this shape for one image (a tensor without the batch: all of it)."""
    return math.prod(d.size for d in shape)


def work(node: Node, out: Info) -> int:
    """Multiply-adds (or comparisons) a node does for one image: a window's or a product's size per output value,
    one per value otherwise."""
    made = values(out.shape)
    first = node.inputs[0] if node.inputs and node.inputs[0] is not None else None
    if node.op == "Conv":
        return made * values(node.inputs[1].shape[1:])  # type: ignore[union-attr]
    if node.op in ("MatMul", "Gemm") and first is not None:
        k = first.shape[0] if node.op == "Gemm" and node.attrs.get("transA") else first.shape[-1]
        return made * k.size
    if node.op in ("MaxPool", "AveragePool"):
        return made * math.prod(node.attrs.get("kernel_shape") or [1])
    return max(made, sum(values(i.shape) for i in node.inputs if i is not None))
