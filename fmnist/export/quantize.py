"""ONNX fp32 -> int8 with onnxruntime.quantization: pre-processing, then static QDQ quantization
calibrated on stratified training images. The input and output stay float32."""

from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.errors import UsageError, needs_train_extra


@dataclass(frozen=True)
class QuantSettings:
    method: str = "minmax"  # calibration: minmax, entropy or percentile
    per_channel: bool = True  # one scale per output channel of each weight
    activations: str = "int8"  # int8 (S8S8) or uint8 (U8S8: uint8 activations, int8 weights)
    float_convs: int = 0  # the graph's first convolutions that stay float (fmnist.runtime.kind: int8_float_convs)

    def name(self) -> str:
        first = f", first {self.float_convs} convs float" if self.float_convs else ""
        return f"{self.activations} acts, {'per-channel' if self.per_channel else 'per-tensor'}, {self.method}{first}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# The settings `export --int8` uses unless told otherwise belong to the model's preprocessing kind
# (fmnist.runtime.kind: int8_method, int8_activations). ORT's histogram calibrators (percentile, entropy) keep every
# activation of every image in memory (onnxruntime#10503,
# #21979). Lite0 at 160 px peaked at 13.8 GB with 300 photos, 7.9 GB with 120, 6.1 GB with 64; 300 photos at 224 px
# were killed at 24 GB. They calibrate on at most this many pixels' worth of images: 128 photos at 160 px, 65 at
# 224, every one of 1000 Fashion-MNIST images. Min-max calibration and the TFLite converter take them all.
HISTOGRAM_PIXELS = 128 * 160 * 160
HISTOGRAM_METHODS = ("percentile", "entropy")


def calibration_count(shape: tuple[int, ...], method: str) -> int:
    """How many of `shape[0]` images (N, H, W, C) calibrate with `method` (HISTOGRAM_PIXELS)."""
    if method not in HISTOGRAM_METHODS:
        return shape[0]
    return min(shape[0], max(16, HISTOGRAM_PIXELS // (shape[1] * shape[2])))


def kept_float(graph: Any, float_convs: int) -> list[str]:
    """The nodes quantization leaves float: the softmax (probabilities stay float) and the first `float_convs`
    convolutions in graph order."""
    convs = [n.name for n in graph.node if n.op_type == "Conv"]
    if float_convs > len(convs):
        raise UsageError(f"--float-convs {float_convs}: this model has {len(convs)} convolutions; keep at most "
                         "that many float")
    return [n.name for n in graph.node if n.op_type == "Softmax"] + convs[:float_convs]


def quantize_onnx(
    fp32: Path,
    out: Path,
    calib: np.ndarray,  # (N, *input shape) float32 model input, training images
    settings: QuantSettings = QuantSettings(),
) -> None:
    try:
        import onnx
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        raise needs_train_extra("onnx") from e

    calib = calib[: calibration_count(calib.shape, settings.method)]
    # equal batches: the histogram calibrators (entropy, percentile) stack them and fail on a short last one
    batch = max(d for d in range(1, 33) if len(calib) % d == 0)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter({"image": b} for b in np.split(calib, len(calib) // batch))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    activations = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    with tempfile.TemporaryDirectory(prefix="fmnist-quant-") as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        # symbolic shape inference + BASIC fusions (Conv+BN, MatMul+Add -> Gemm): fewer tensors to quantize
        quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=False)
        keep = kept_float(onnx.load(str(prepped)).graph, settings.float_convs)
        # the histogram calibrators print progress on stdout, which belongs to --json
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_static(
                str(prepped), str(out), Reader(),
                quant_format=QuantFormat.QDQ,
                activation_type=activations[settings.activations],
                weight_type=QuantType.QInt8,
                per_channel=settings.per_channel,
                calibrate_method=methods[settings.method],
                nodes_to_exclude=keep,
            )
