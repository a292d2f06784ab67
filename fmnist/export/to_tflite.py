"""Keras -> TFLite fp32, fp16 and full-integer int8, through a SavedModel
(TFLiteConverter.from_keras_model breaks on Keras 3: keras#18430)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.quiet import quiet_stderr
from fmnist.core.tf import tf


def keras_to_tflite(model: Any, precision: str, calib: np.ndarray | None = None, mode: str = "int8") -> bytes:
    """The flatbuffer bytes. int8 needs `calib` images: full-integer with int8 input and output, or (`mode`
    "16x8") int8 weights with int16 activations and float input and output, for a model int8 activations
    lose too much on."""
    with tempfile.TemporaryDirectory(prefix="fmnist-savedmodel-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if precision != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        if precision == "int8":
            assert calib is not None, "int8 needs calibration images"

            def representative() -> Iterator[list[np.ndarray]]:
                for image in calib:
                    yield [image[None].astype(np.float32)]

            converter.representative_dataset = representative
            if mode == "16x8":
                ops = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
                converter.target_spec.supported_ops = [ops]
            else:
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]  # never keep float ops
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        with quiet_stderr():  # the MLIR converter logs every pass on fd 2
            return bytes(converter.convert())
