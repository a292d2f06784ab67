"""What `fmnist export` writes: one Target per file, each knowing how to build its raw (unchecked, metadata-free)
model into a temp path. The int8 ONNX build returns how it was quantized, so the report says what was done."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.errors import UsageError
from fmnist.export.parity import ParityRow


@dataclass(frozen=True)
class ExportOptions:
    int8: bool = False
    fp16: bool = False
    tflite: bool = True
    calib: int = 1000  # stratified training images for int8 calibration (own labels: at most this many photos)
    calib_method: str | None = None  # None: the model's kind's (fmnist.runtime.kind)
    per_channel: bool = True
    activations: str | None = None  # int8 ONNX activations: int8 (S8S8) or uint8 (U8S8); None: the model's default
    float_convs: int | None = None  # the first convolutions the int8 ONNX keeps float; None: the model's default
    search: bool = False  # try a grid of int8 ONNX settings and keep the fastest that passes the gate
    fallback: bool = True  # when the default int8 fails, try the others (never when the user chose the settings)
    min_agree: float | None = None  # override the gate's defaults (see parity.DEFAULTS)
    max_drop: float | None = None
    out: Path | None = None  # default: next to the source model
    data_dir: Path | None = None
    command: str = ""  # the command line that ran this, recorded in each file's metadata

    def check(self) -> None:
        """Refuse (UsageError) options that contradict each other, before anything is read or built."""
        if self.fp16 and not self.tflite:
            raise UsageError("--fp16 writes model.fp16.tflite, which --no-tflite turns off; drop one of them")
        if self.search and not self.int8:
            raise UsageError("--search picks the int8 ONNX settings; add --int8")
        int8_options = {"--calib-method": self.calib_method, "--activations": self.activations,
                        "--float-convs": self.float_convs}
        given = [name for name, value in int8_options.items() if value is not None]
        if given and not self.int8:
            raise UsageError(f"{', '.join(given)} set{'s' if len(given) == 1 else ''} how int8 is made; add --int8")


@dataclass(frozen=True)
class Built:
    """What a build did beyond writing the file: the int8 ONNX settings, and the search when one ran."""

    quantization: dict[str, Any] | None = None
    search: dict[str, Any] | None = None


@dataclass(frozen=True)
class Target:
    file: str
    precision: str
    build: Callable[[Path], Built]  # writes the raw converted model to the given temp path


Gate = Callable[[str, str], Callable[[Path], ParityRow]]  # (file, precision) -> raw file -> its parity row


def files(opts: ExportOptions) -> list[tuple[str, str]]:
    """(file, precision) of every file the options ask for, in build order: model.onnx first (the int8 ONNX is
    quantized from it)."""
    out = [("model.onnx", "fp32")]
    if opts.int8:
        out.append(("model.int8.onnx", "int8"))
    if opts.tflite:
        out.append(("model.tflite", "fp32"))
        if opts.fp16:
            out.append(("model.fp16.tflite", "fp16"))
        if opts.int8:
            out.append(("model.int8.tflite", "int8"))
    return out


def targets(model: Any, opts: ExportOptions, calib: np.ndarray, work: Path, gate: Gate,
            status: Callable[[str], None]) -> list[Target]:
    """The files to write (`files`), each with its build."""
    fp32_onnx = work / "model.onnx"
    builds: dict[str, Callable[[Path], Built]] = {
        "model.onnx": lambda path: _onnx_fp32(model, path),
        "model.int8.onnx": lambda path: _onnx_int8(fp32_onnx, path, calib, opts, gate, work, status),
        "model.tflite": _tflite(model, "fp32", calib),
        "model.fp16.tflite": _tflite(model, "fp16", calib),
        "model.int8.tflite": lambda path: _tflite_int8(model, path, calib, gate("model.int8.tflite", "int8")),
    }
    return [Target(file, precision, builds[file]) for file, precision in files(opts)]


def _onnx_fp32(model: Any, path: Path) -> Built:
    from fmnist.export.to_onnx import keras_to_onnx

    path.write_bytes(keras_to_onnx(model).SerializeToString())
    return Built()


def _onnx_int8(fp32: Path, path: Path, calib: np.ndarray, opts: ExportOptions, gate: Gate, work: Path,
               status: Callable[[str], None]) -> Built:
    from fmnist.export.quantize import QuantSettings, calibration_count, quantize_onnx
    from fmnist.export.search import fallback, grid_keeping, search

    judge = gate("model.int8.onnx", "int8")
    grid = grid_keeping(opts.float_convs or 0)  # the search's and the fallback's tries keep the float convolutions
    if opts.search:
        result = search(fp32, path, calib, judge, work, grid, status)
        return Built(quantization=result["chosen"], search=result)
    settings = QuantSettings(opts.calib_method or "minmax", opts.per_channel, opts.activations or "int8",
                             opts.float_convs or 0)
    quantize_onnx(fp32, path, calib, settings)
    row = judge(path)
    if row.passed or not opts.fallback:
        return Built(quantization={**settings.as_dict(), "images": calibration_count(calib.shape, settings.method)})
    print(f"model.int8.onnx with {settings.name()} failed the gate ({row.failures[0].split(': ', 1)[-1]}); trying "
          "the other per-channel settings of --search, with the same gate", file=sys.stderr)
    result = fallback(fp32, path, calib, judge, work, settings, status, grid)
    chosen = QuantSettings(**result["chosen"])
    print(f"model.int8.onnx: {'kept ' + chosen.name() if any(t['chosen'] for t in result['tries']) else 'none passed'}",
          file=sys.stderr)
    return Built(quantization={**result["chosen"], "images": calibration_count(calib.shape, chosen.method)},
                 search=result)


def _tflite(model: Any, precision: str, calib: np.ndarray) -> Callable[[Path], Built]:
    def build(path: Path) -> Built:
        from fmnist.export.to_tflite import keras_to_tflite

        path.write_bytes(keras_to_tflite(model, precision, calib))
        return Built()

    return build


def _tflite_int8(model: Any, path: Path, calib: np.ndarray, judge: Callable[[Path], ParityRow]) -> Built:
    """Full-integer int8; if the gate refuses it, int8 weights with int16 activations (16x8), said on stderr
    and kept only if it passes the same gate."""
    from fmnist.export.to_tflite import keras_to_tflite

    path.write_bytes(keras_to_tflite(model, "int8", calib))
    row = judge(path)
    if row.passed:
        return Built(quantization={"activations": "int8", "weights": "int8"})
    print(f"model.int8.tflite with int8 activations failed the gate ({row.failures[0].split(': ', 1)[-1]}); trying "
          "int16 activations with int8 weights (16x8), with the same gate", file=sys.stderr)
    fallback = path.with_name("16x8." + path.name)
    fallback.write_bytes(keras_to_tflite(model, "int8", calib, mode="16x8"))
    if not judge(fallback).passed:
        print("model.int8.tflite: 16x8 failed the gate too", file=sys.stderr)
        return Built(quantization={"activations": "int8", "weights": "int8", "fallback": "16x8 failed the gate too"})
    fallback.replace(path)
    print("model.int8.tflite: kept 16x8 (int16 activations, int8 weights; float input and output)", file=sys.stderr)
    return Built(quantization={"activations": "int16", "weights": "int8", "fallback": "int8 activations failed"})
