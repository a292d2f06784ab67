"""The check of a .tflite file before LiteRT runs it on images, as fmnist.core.model_check is for ONNX: a .tflite file
is code too (a 5 KB file whose Tile op makes each 28x28 image 1,120x1,120 took 5 GB in one of evaluate's calls).

- operators from an allow-list: what fmnist's exporters write (convolutions, pooling, products, activations,
  quantize/dequantize, reshapes) and their like; no control flow (WHILE, IF), no Tile, Pad or resize, no custom or
  TensorFlow ops;
- one input of rank 4 whose first dimension is the batch, and one (batch, labels) output;
- memory told by LiteRT itself, not by what the file declares: the shapes its own kernels give every tensor once
  allocated for a call of N images (with no delegate, whose tensors LiteRT would not resize), and so the bytes alive
  at once in graph order (a tensor from the node that makes it to the last that reads it, as LiteRT's arena holds
  them; the weights, in the file, not counted); one image over `MAX_CALL_LIVE` is refused, and a call takes at most
  the images whose bytes, measured at that size, fit within it (`TfliteChecked.max_rows`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.errors import ModelError, printable
from fmnist.core.meta import MAX_LABELS
from fmnist.core.model_check import MAX_CALL_LIVE

# LiteRT's names of the builtin operators fmnist's TFLite files use (the notebook models, edge, the photo tier in
# fp32, fp16 and int8), and those that make a tensor no larger than their inputs and weights do
ALLOWED_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "FULLY_CONNECTED",
    "HARD_SWISH", "LOGISTIC", "MAX_POOL_2D", "MEAN", "MUL", "PACK", "QUANTIZE", "RELU", "RELU6", "RESHAPE", "SHAPE",
    "SOFTMAX", "SQUEEZE", "STRIDED_SLICE", "SUB",
})


MAX_ROWS = 4096  # images in one call at most, whatever the memory: bench's largest --batch-size
MAX_NODES = 10_000  # as for ONNX (fmnist.core.model_check): Lite0 has about 70 in TFLite


class TfliteRefused(ModelError):
    """A .tflite file that is not what fmnist's exporters write: it never runs on an image."""


@dataclass(frozen=True)
class TfliteChecked:
    """What the check found: the input's shape for one image, and the most images one call may take with its tensors
    alive at once within MAX_CALL_LIVE bytes."""

    input_shape: tuple[int, ...]
    max_rows: int


def check_tflite(interpreter: Any, where: str) -> TfliteChecked:
    """Refuse (TfliteRefused, exit 4) a .tflite file fmnist would not run safely; otherwise what the check found.
    `interpreter` is one made for the check (`checking`)."""
    _check_ops(interpreter, where)
    shape = _io(interpreter, where)
    _check_static(interpreter, where)
    spans = _spans(interpreter)
    one = _live_at(interpreter, spans, 1, where)
    if one > MAX_CALL_LIVE:
        raise TfliteRefused(f"{where} is refused before it runs: one image takes {one / 1e6:,.0f} MB of its tensors "
                            f"at once, over the {MAX_CALL_LIVE / 1e6:,.0f} MB a call may hold; is it a model exported "
                            "by fmnist?")
    return TfliteChecked(shape, _most_rows(interpreter, spans, where))


def _most_rows(interpreter: Any, spans: dict[int, tuple[int, int]], where: str) -> int:
    """The most images (up to MAX_ROWS) whose tensors LiteRT holds within MAX_CALL_LIVE, found by halving: measured
    at each size, since memory need not grow in step with the images (a (B, 1, n) x (1, B, n) product grows as B
    squared). An allocation LiteRT refuses is over the bound; nothing allocated is written to, so none is held."""
    low, high = 1, MAX_ROWS
    while low < high:
        rows = (low + high + 1) // 2
        try:
            fits = _live_at(interpreter, spans, rows, where) <= MAX_CALL_LIVE
        except TfliteRefused:
            fits = False
        low, high = (rows, high) if fits else (low, rows - 1)
    return low


def checking(path: Path) -> Any:
    """A LiteRT interpreter of the file for the check: its own kernels, no delegate (XNNPACK keeps the tensors it
    runs to itself, so LiteRT would report their shapes for the first batch only)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        return Interpreter(model_path=str(path), num_threads=1,
                           experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except (RuntimeError, ValueError) as e:
        raise ModelError(f"{path} is not a loadable TFLite model ({printable(str(e).splitlines()[0], 200)})") from e


def max_rows(path: Path) -> int:
    """The most images one call of the .tflite file at `path` may take (bench's --batch-size), checked."""
    return check_tflite(checking(path), str(path)).max_rows


def _check_static(interpreter: Any, where: str) -> None:
    """Every tensor's shape known before a run, but for the batch: LiteRT learns a shape computed from values (a slice
    whose end is reckoned from the input's shape) only when it runs, so no allocation measures it (a (n, 1) x (1, n)
    product of such a slice took 388 MB at 12 images). fmnist's files compute only their batch so."""
    dynamic = next((t["name"] for t in interpreter.get_tensor_details()
                    if any(d < 0 for d in t["shape_signature"].tolist()[1:])), None)
    if dynamic is not None:
        raise TfliteRefused(f"{where} is refused before it runs: tensor {printable(dynamic, 60)} has a shape known "
                            "only when the model runs, beyond the batch; export the model with fmnist export")


def _check_ops(interpreter: Any, where: str) -> None:
    try:
        ops = [op["op_name"] for op in interpreter._get_ops_details()]  # LiteRT's only listing of a graph's nodes
    except (AttributeError, KeyError, RuntimeError) as e:
        raise TfliteRefused(f"{where}: this LiteRT cannot list its operators ({e}); run it with the LiteRT fmnist "
                            "names in pip install 'fmnist[train]'") from e
    if len(ops) > MAX_NODES:
        raise TfliteRefused(f"{where} is refused before it runs: {len(ops):,} operators, over the {MAX_NODES:,} of any "
                            "model fmnist exports")
    other = sorted({op for op in ops if op not in ALLOWED_OPS})
    if other:
        raise TfliteRefused(f"{where} is refused before it runs: operator {printable(other[0], 40)} is not one that "
                            "fmnist's exporters write; export the model with fmnist export")


def _io(interpreter: Any, where: str) -> tuple[int, ...]:
    """One rank-4 input batched in its first dimension and one (batch, labels) output: one image's shape."""
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    shape = inputs[0]["shape_signature"].tolist() if len(inputs) == 1 else []
    out = outputs[0]["shape_signature"].tolist() if len(outputs) == 1 else []
    if len(shape) != 4 or shape[0] not in (-1, 1) or min(shape[1:]) < 1 or len(out) != 2 or out[0] not in (-1, 1) \
            or not 1 <= out[1] <= MAX_LABELS:
        found = [d["shape_signature"].tolist() for d in inputs], [d["shape_signature"].tolist() for d in outputs]
        raise TfliteRefused(f"{where} takes {printable(str(found[0]), 80)} and gives {printable(str(found[1]), 80)}: "
                            "fmnist's models take one batch of images (batch, height, width, channels) and give one "
                            "(batch, labels) row of probabilities; export the model with fmnist export")
    return tuple(shape[1:])


def _spans(interpreter: Any) -> dict[int, tuple[int, int]]:
    """Each tensor a node makes (or the input), by index: from that node to the last that reads it (the outputs to
    the end), in graph order, as LiteRT's arena holds it; the weights, in the file, have none."""
    ops = interpreter._get_ops_details()
    first = {interpreter.get_input_details()[0]["index"]: -1} | {int(t): k for k, op in enumerate(ops)
                                                                  for t in op["outputs"]}
    last = {int(t): k for k, op in enumerate(ops) for t in op["inputs"] if int(t) in first}
    last |= {d["index"]: len(ops) for d in interpreter.get_output_details()}
    return {t: (k, last.get(t, k)) for t, k in first.items()}


def _live_at(interpreter: Any, spans: dict[int, tuple[int, int]], rows: int, where: str) -> int:
    """The most bytes alive at once (`spans`) when LiteRT runs `rows` images, at the shapes it gives them then."""
    inp = interpreter.get_input_details()[0]
    try:
        interpreter.resize_tensor_input(inp["index"], [rows, *inp["shape"].tolist()[1:]])
        interpreter.allocate_tensors()
        sizes = {t["index"]: math.prod(t["shape"].tolist()) * np.dtype(t["dtype"]).itemsize
                 for t in interpreter.get_tensor_details()}
    except (RuntimeError, ValueError, MemoryError) as e:
        raise TfliteRefused(f"{where}: LiteRT cannot allocate it for {rows} image(s) "
                            f"({printable(str(e).splitlines()[0] if str(e) else type(e).__name__, 200)})") from e
    steps = 1 + max((end for _, end in spans.values()), default=0)
    return max(sum(sizes.get(t, 0) for t, (start, end) in spans.items() if start <= k <= end)
               for k in range(-1, steps))
