"""`fmnist evaluate MODEL`: the full test-set report for a .keras, .onnx or .tflite model, one harness for all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fmnist import data
from fmnist.export.predictors import open_model
from fmnist.train.report import classification_report


def evaluate(path: Path, data_dir: Path | None = None, threads: int | None = None) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix on the 10,000 test images."""
    test = data.load_split("test", data_dir)
    predict = open_model(Path(path), threads)
    return {"model": str(path), **classification_report(test.labels, predict(data.to_model_input(test.images)))}
