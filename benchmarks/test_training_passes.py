"""The photo model's training: its passes below the fine-tuning boundary (Lite0 to block 7 at 160 px, 64 images a
call), eager calls against the compiled exact forward (fmnist.train.exact_graph) that `make model` uses, on the same
Fashion-MNIST training images written as photos. make model's photo train makes 52,976 such rows (seven views of
3,068 photos and 31,500 rows seen once). Needs the train extra (TensorFlow).

    .venv/bin/python -m pytest benchmarks/test_training_passes.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

SIZE = 160


@pytest.fixture(scope="module")
def bottom() -> Any:
    from fmnist.core.tf import keras
    from fmnist.train.backbones import BACKBONES
    from fmnist.train.photo_model import TUNE_FROM

    full = BACKBONES["lite0"].build(SIZE)
    return keras.Model(full.input, full.get_layer(TUNE_FROM).output)


@pytest.fixture(scope="module")
def batches(measured) -> list[np.ndarray]:
    """Model input: 1,024 training images as photos (16 calls), 128 when unmeasured."""
    from fmnist.data import fashion
    from fmnist.evaluation.render import render
    from fmnist.train.photo_model import preparation
    from fmnist.train.photo_tier import PASS_BATCH

    train = fashion.load_split("train")
    x = preparation(SIZE).to_input(render(train.images[: 1024 if measured else 128], SIZE))
    return [x[i : i + PASS_BATCH] for i in range(0, len(x), PASS_BATCH)]


def _passes(forward: Callable[[np.ndarray], np.ndarray], batches: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([forward(b) for b in batches])


def _eager(bottom: Any) -> Callable[[np.ndarray], np.ndarray]:
    return lambda b: np.asarray(bottom(b, training=False))


def test_passes_eager(benchmark, bottom, batches):
    benchmark.group = "photo training: passes below the boundary"
    benchmark.extra_info.update(images=sum(map(len, batches)), note="eager calls of the Keras model (before)")
    benchmark.pedantic(_passes, args=(_eager(bottom), batches), rounds=3, warmup_rounds=1)


def test_passes_compiled_exact(benchmark, bottom, batches):
    from fmnist.train.exact_graph import exact_forward

    forward = exact_forward(bottom)
    benchmark.group = "photo training: passes below the boundary"
    benchmark.extra_info.update(images=sum(map(len, batches)), note="exact_forward: compiled, the eager numbers")
    got = benchmark.pedantic(_passes, args=(forward, batches), rounds=3, warmup_rounds=1)
    assert np.array_equal(got, _passes(_eager(bottom), batches))
