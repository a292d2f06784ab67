"""Benchmarks: `make bench` (saves and compares runs). Plain `pytest` never collects this folder.

Models come from FMNIST_BENCH_RUN (default runs/edge, after `fmnist export runs/edge --int8`; make test points it at
a copy of the CNN its tests exported). If that folder has no exports, the notebook CNN is trained one epoch and
exported once, as the tests export it (tests/exported.py), so the suite always runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    chosen = Path(os.environ.get("FMNIST_BENCH_RUN") or ROOT / "runs" / "edge")
    if all((chosen / f).is_file() for f in (*FORMATS, "model.keras")):
        return chosen
    from tests.exported import export_cnn

    made = tmp_path_factory.mktemp("bench") / "cnn"
    export_cnn(made)  # the tests' exported CNN (tests/conftest.py's exported_cnn), made the same way
    return made


@pytest.fixture(scope="session")
def measured(request) -> bool:
    """False under --benchmark-disable (make test), where each benchmark runs once to prove it still works: a
    fixture may then be made smaller (fewer photos, frames or warm-up calls), never of another kind."""
    return not request.config.getoption("benchmark_disable")


@pytest.fixture(scope="session")
def images() -> np.ndarray:
    from fmnist.data import fashion
    from fmnist.runtime.preparation import CUTOUT

    return CUTOUT.to_input(fashion.load_split("test").images[:64])  # (64, 28, 28, 1) float32


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real 640x480 JPEG photo (a sample, resized)."""
    import cv2

    from fmnist.runtime.image import read_image

    return cv2.resize(read_image(ROOT / "examples" / "photos" / "pants.jpg"), (640, 480), interpolation=cv2.INTER_AREA)


@pytest.fixture(autouse=True)
def machine_info(benchmark):
    from fmnist.deploy.bench.machine import describe

    machine = describe()
    benchmark.extra_info.update(cpu=machine["cpu"], int8_dot=machine["int8_dot"], onnxruntime=machine["onnxruntime"],
                                provider="CPUExecutionProvider")
