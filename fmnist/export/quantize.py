"""ONNX fp32 -> int8 with onnxruntime.quantization: pre-processing, then static QDQ quantization
calibrated on stratified training images. The input and output stay float32."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from fmnist.errors import needs_train_extra


def quantize_onnx(
    fp32: Path,
    out: Path,
    calib: np.ndarray,  # (N, 28, 28, 1) float32 in [0, 1], training images
    method: str = "minmax",
    per_channel: bool = True,
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

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter({"image": b} for b in np.array_split(calib, max(1, len(calib) // 32)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    with tempfile.TemporaryDirectory(prefix="fmnist-quant-") as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        # symbolic shape inference + BASIC fusions (Conv+BN, MatMul+Add -> Gemm): fewer tensors to quantize
        quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=False)
        softmax = [n.name for n in onnx.load(str(prepped)).graph.node if n.op_type == "Softmax"]
        quantize_static(
            str(prepped), str(out), Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            calibrate_method=methods[method],
            nodes_to_exclude=softmax,  # probabilities stay float
        )
