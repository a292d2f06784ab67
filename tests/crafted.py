"""Hand-crafted ONNX models for tests, as a hostile tester makes them: any input side, an output of any shape (a
scalar, wider than it declares, NaN), and any text under the `fmnist` metadata key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fmnist.core.meta import CLASS_NAMES
from fmnist.runtime.crop import CentreCrop
from fmnist.runtime.cutout import preprocess_record

RAW = "@raw@"  # a metadata value written as the JSON text given to `meta_text` (1e400, NaN, a bad literal, …)


def meta_text(raw: str | None = None, **fields: Any) -> str:
    """fmnist metadata (fp32, Fashion-MNIST's labels, today's cut-out) with `fields` replaced; a value of RAW is
    written as the text `raw`."""
    meta = {"precision": "fp32", "source_sha256": "0" * 64, "labels": list(CLASS_NAMES),
            "preprocess": preprocess_record(), **fields}
    return json.dumps(meta).replace(f'"{RAW}"', raw or "null")


def crop_record(**fields: Any) -> dict[str, Any]:
    """The photo tier's record (32x32, mean 127, std 128) with `fields` replaced (None: left out)."""
    record = {**CentreCrop(32, 127, 128).record(), **fields}
    return {k: v for k, v in record.items() if v is not None}


def _nodes(output: str, width: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """x (N, S, S, C) -> its mean -> `width` softmax probabilities (what a classifier outputs); variants on top."""
    inits = [numpy_helper.from_array(np.linspace(-1, 1, width, dtype=np.float32)[None], "w"),
             numpy_helper.from_array(np.array([1], np.int64), "one")]
    nodes = [helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Unsqueeze", ["mean", "one"], ["column"]),
             helper.make_node("MatMul", ["column", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    if output == "nan":  # every probability NaN
        inits.append(numpy_helper.from_array(np.full(width, np.nan, np.float32), "nan"))
        nodes.append(helper.make_node("Add", ["probs", "nan"], ["y"]))
    elif output == "scalar":
        nodes.append(helper.make_node("ReduceSum", ["probs"], ["y"], keepdims=0))
    elif output == "wider":  # two more columns than declared: the first two again
        inits += [numpy_helper.from_array(np.array([0], np.int64), "zero"),
                  numpy_helper.from_array(np.array([2], np.int64), "two")]
        nodes += [helper.make_node("Slice", ["probs", "zero", "two", "one"], ["first"]),
                  helper.make_node("Concat", ["probs", "first"], ["y"], axis=1)]
    else:
        nodes.append(helper.make_node("Identity", ["probs"], ["y"]))
    return nodes, inits


def model(path: Path, meta: str | None, side: int = 28, channels: int = 1, width: int = 10,
          output: str = "probs") -> Path:
    """An ONNX model taking (N, side, side, channels) floats, its output `output` (probs, nan, scalar or wider:
    declared (N, width), two columns more at run time), its metadata the text `meta` (None: no key)."""
    nodes, inits = _nodes(output, width)
    declared = [] if output == "scalar" else ["N", width]
    graph = helper.make_graph(nodes, "crafted",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", side, side, channels])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, declared)], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    if meta is not None:
        helper.set_model_props(proto, {"fmnist": meta})
    onnx.save(proto, str(path))
    return path


def own_run(run: Path, labels: tuple[str, str]) -> Path:
    """A run folder of a two-label own-classes model: a crafted model.onnx and its four held-out images, which
    evaluate and bench judge it on in milliseconds; returns the model's path."""
    run.mkdir(parents=True, exist_ok=True)
    path = model(run / "model.onnx", meta_text(labels=list(labels)), width=2)
    images = np.zeros((4, 28, 28), np.uint8)
    np.savez_compressed(run / "own_data.npz", heldout_images=images, heldout_labels=np.array([0, 1, 0, 1]),
                        heldout_empty=np.zeros(4, bool), calib_images=images)
    return path
