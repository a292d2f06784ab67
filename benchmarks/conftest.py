"""Benchmarks run on exported run folders: FMNIST_BENCH_RUNS="runs/edge runs/cnn" (the default)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MODEL_FILES = ("model.onnx", "model.int8.onnx", "model.tflite", "model.fp16.tflite", "model.int8.tflite")


def bench_runs() -> list[Path]:
    return [Path(p) for p in os.environ.get("FMNIST_BENCH_RUNS", "runs/edge runs/cnn").split()]


def exported_files() -> list[Path]:
    return [run / name for run in bench_runs() for name in MODEL_FILES if (run / name).is_file()]


@pytest.fixture(scope="session")
def batch1():
    from fmnist import data

    return data.to_model_input(data.load_split("test").images[:1])
