"""Batch-1 and batch-64 latency on one thread: ORT fp32/int8, LiteRT fp32/int8, and the Keras call."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from fmnist.evaluation.predictors import runner

THREADS = 1


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("name", ["model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite"])
def test_exported_model(benchmark, run_dir, images, name, batch):
    path = run_dir / name
    run = runner(path, THREADS)  # the harness's raw inference; warm-up rounds size it to the batch
    x = np.ascontiguousarray(images[:batch])
    benchmark.group = f"inference, batch {batch}, {THREADS} thread"
    benchmark.extra_info.update(threads=THREADS, batch=batch, file=name, size_kb=round(path.stat().st_size / 1024, 1))
    benchmark.pedantic(run, args=(x,), rounds=1000 if batch == 1 else 100, warmup_rounds=50)


@pytest.mark.parametrize("batch", [1, 64])
def test_keras_call_reference(benchmark, run_dir, images, batch):
    from fmnist.core.tf import tf
    from fmnist.evaluation.predictors import load_keras

    with contextlib.suppress(RuntimeError):  # TensorFlow already started in this process: it keeps its threads
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    model = load_keras(run_dir / "model.keras")
    benchmark.group = f"inference, batch {batch}, {THREADS} thread"
    benchmark.extra_info.update(threads=THREADS, batch=batch, file="model.keras (Keras call)")
    benchmark.pedantic(lambda x: model(x, training=False), args=(images[:batch],), rounds=100, warmup_rounds=10)
