"""`fmnist export`: convert a trained model to every requested format, gate each file on parity with
Keras, embed the metadata, and only then move it into place.

A file the gate rejects is never written under its good name; an earlier good file stays as it was.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress

from fmnist import __version__
from fmnist.core import atomic
from fmnist.core.errors import ModelError, ParityError
from fmnist.core.meta import INPUT_SPEC, ModelMeta
from fmnist.data import fashion
from fmnist.evaluation.predictors import keras_predictor, load_keras, open_model
from fmnist.evaluation.testset import TestSet, test_set_for
from fmnist.export.embed import embed_onnx, embed_tflite
from fmnist.export.parity import compare, markdown, thresholds_for
from fmnist.export.search import markdown as search_markdown
from fmnist.export.search import search
from fmnist.train.split import stratified_indices


@dataclass(frozen=True)
class ExportOptions:
    int8: bool = False
    fp16: bool = False
    tflite: bool = True
    calib: int = 1000  # stratified training images for int8 calibration
    calib_method: str = "minmax"
    per_channel: bool = True
    activations: str = "int8"  # int8 ONNX activations: int8 (S8S8) or uint8 (U8S8)
    search: bool = False  # try a grid of int8 ONNX settings and keep the fastest that passes the gate
    min_agree: float | None = None  # override the gate's defaults (see parity.DEFAULTS)
    max_drop: float | None = None
    out: Path | None = None  # default: next to the source model
    data_dir: Path | None = None
    command: str = ""  # the command line that ran this, recorded in each file's metadata


@dataclass(frozen=True)
class Target:
    file: str
    precision: str
    build: Callable[[Path], None]  # writes the raw converted model to the given temp path


def rejected_name(file: str) -> str:
    """model.int8.onnx -> model.int8.rejected.onnx"""
    stem, _, suffix = file.rpartition(".")
    return f"{stem}.rejected.{suffix}"


def resolve_source(source: Path) -> Path:
    """A run folder or a .keras file -> the .keras file."""
    source = Path(source)
    candidate = source / "model.keras" if source.is_dir() else source
    if not candidate.is_file():
        raise ModelError(f"no model at {candidate}; pass a run folder holding model.keras or a .keras file "
                         "(make one with fmnist train)")
    if candidate.suffix != ".keras":
        raise ModelError(f"cannot export {candidate}: fmnist export takes a .keras model or a run folder")
    return candidate


Gate = Callable[[str, str], Callable[[Path], dict[str, Any]]]  # (file, precision) -> raw file -> parity row


def _targets(model: Any, opts: ExportOptions, calib: np.ndarray, work: Path, gate: Gate,
             notes: dict[str, Any], status: Callable[[str], None]) -> list[Target]:
    from fmnist.export.quantize import QuantSettings, quantize_onnx
    from fmnist.export.to_onnx import keras_to_onnx

    fp32_onnx = work / "model.onnx"

    def onnx_fp32(path: Path) -> None:
        path.write_bytes(keras_to_onnx(model).SerializeToString())

    def onnx_int8(path: Path) -> None:
        if opts.search:
            notes["int8_search"] = search(fp32_onnx, path, calib, gate("model.int8.onnx", "int8"), work,
                                          status=status)
            notes["quantization"] = notes["int8_search"]["chosen"]
        else:
            quantize_onnx(fp32_onnx, path, calib, QuantSettings(opts.calib_method, opts.per_channel, opts.activations))

    def tflite(precision: str) -> Callable[[Path], None]:
        def build(path: Path) -> None:
            from fmnist.export.to_tflite import keras_to_tflite

            path.write_bytes(keras_to_tflite(model, precision, calib))

        return build

    targets = [Target("model.onnx", "fp32", onnx_fp32)]
    if opts.int8:
        targets.append(Target("model.int8.onnx", "int8", onnx_int8))
    if opts.tflite:
        targets.append(Target("model.tflite", "fp32", tflite("fp32")))
        if opts.fp16:
            targets.append(Target("model.fp16.tflite", "fp16", tflite("fp16")))
        if opts.int8:
            targets.append(Target("model.int8.tflite", "int8", tflite("int8")))
    return targets


def _input_spec(raw: Path) -> dict[str, Any]:
    """The input spec as this file really takes it: a full-integer TFLite takes int8, quantized."""
    spec = dict(INPUT_SPEC)
    if raw.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        detail = Interpreter(model_path=str(raw)).get_input_details()[0]
        if detail["dtype"] != np.float32:
            scale, zero = detail["quantization"]
            spec |= {"dtype": np.dtype(detail["dtype"]).name, "quantization": {"scale": scale, "zero_point": zero},
                     "quantize": "q = clip(round(x / scale) + zero_point), x in [0, 1]"}
    return spec


def _calibration(test: TestSet, opts: ExportOptions) -> np.ndarray:
    """int8 calibration images: the run's training photos (own labels) or stratified training images."""
    if test.calib is not None:
        return test.calib[: opts.calib]
    train = fashion.load_split("train", opts.data_dir)
    return train.images[stratified_indices(train.labels, opts.calib, seed=0)]


def _run_metrics(keras_path: Path) -> dict[str, Any]:
    metrics_path = keras_path.parent / "metrics.json"
    return json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}


def _training_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "command", "params", "test_accuracy", "val_accuracy", "train_seconds", "config", "recipe",
            "versions", "own_labels", "heldout_accuracy")
    return {k: metrics[k] for k in keys if k in metrics}


def export(source: Path, opts: ExportOptions, console: Console | None = None) -> dict[str, Any]:
    """Export, gate and write. Returns the parity report; raises ParityError if any file failed the gate."""
    keras_path = resolve_source(source)
    out = Path(opts.out or keras_path.parent)
    console = console or Console(stderr=True)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sha256 = hashlib.sha256(keras_path.read_bytes()).hexdigest()
    metrics = _run_metrics(keras_path)  # the training figures and the "not sure" threshold travel with the file

    test = test_set_for(keras_path, opts.data_dir)  # own labels: the run's held-out photos
    x_test = fashion.to_model_input(test.images)
    calib = fashion.to_model_input(_calibration(test, opts))
    model = load_keras(keras_path)
    reference = keras_predictor(model)(x_test)
    report: dict[str, Any] = {
        "source": str(keras_path), "source_sha256": sha256, "n_test": len(x_test), "created": created,
        "data": test.what, "labels": test.names,
        "reference_accuracy": round(float((reference.argmax(1) == test.labels).mean()), 4),
        "fmnist_version": __version__, "command": opts.command,
        "files": [],
    }
    notes: dict[str, Any] = {"quantization": {"method": opts.calib_method, "per_channel": opts.per_channel,
                                              "activations": opts.activations}}

    def gate(file: str, precision: str) -> Callable[[Path], dict[str, Any]]:
        limits = thresholds_for(precision, opts.min_agree, opts.max_drop)
        return lambda raw: compare(file, precision, reference, open_model(raw)(x_test), test.labels, limits,
                                   test.names) | {"data": test.what, "n": len(x_test)}

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fmnist-export-", dir=out) as tmp, \
            Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        work = Path(tmp)
        task = bar.add_task("exporting", total=None)
        targets = _targets(model, opts, calib, work, gate, notes, lambda text: bar.update(task, description=text))
        bar.update(task, total=2 * len(targets))
        for target in targets:
            raw = work / target.file
            bar.update(task, description=f"converting {target.file}")
            target.build(raw)
            bar.update(task, advance=1, description=f"checking {target.file} on {len(x_test)} {test.what}")
            row = gate(target.file, target.precision)(raw)
            row["size_kb"] = round(raw.stat().st_size / 1024, 1)
            if target.file == "model.int8.onnx":
                row["quantization"] = notes["quantization"]
            report["files"].append(row)
            bar.update(task, advance=1)
            if not row["passed"]:  # kept for inspection under a name no loader takes for a good model
                atomic.write_bytes(out / rejected_name(target.file), raw.read_bytes())
                continue
            meta = ModelMeta(precision=target.precision, source_sha256=sha256, labels=test.names,
                             input=_input_spec(raw),
                             training=_training_summary(metrics), parity=row, decision=metrics.get("decision", {}),
                             export_command=opts.command, fmnist_version=__version__, created=created)
            blob = embed_onnx(raw, meta) if target.file.endswith(".onnx") else embed_tflite(raw.read_bytes(), meta)
            atomic.write_bytes(out / target.file, blob)

    report["calibration"] = {"images": opts.calib, **notes["quantization"]}
    if "int8_search" in notes:
        report["int8_search"] = notes["int8_search"]
    rejected = [row["file"] for row in report["files"] if not row["passed"]]
    report["passed"] = not rejected
    atomic.write_json(out / "parity.json", report)
    search_lines = search_markdown(report["int8_search"]) if "int8_search" in report else []
    atomic.write_bytes(out / "parity.md", "\n".join([markdown(report), *search_lines]).encode())
    if rejected:
        failures = "; ".join(f for row in report["files"] for f in row["failures"])
        kept = ", ".join(rejected_name(name) for name in rejected)
        raise ParityError(f"parity gate failed: {failures}. Not written under their names; kept without metadata "
                          f"as {kept} in {out} for inspection (see parity.md). Loosen the gate with "
                          "--min-agree/--max-drop only if you accept the difference", report)
    return report
