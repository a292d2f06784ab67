"""Batch-1 latency on one thread of every exported file, and of the Keras call it came from.

    FMNIST_BENCH_RUNS="runs/edge runs/cnn" pytest benchmarks/test_latency.py --benchmark-group-by=param:run
"""

from __future__ import annotations

import pytest
from conftest import bench_runs, exported_files

from fmnist.export.predictors import quantize
from fmnist.runtime.session import make_session


def _label(path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", exported_files(), ids=_label)
def test_batch1_latency_one_thread(benchmark, path, batch1):
    benchmark.group = f"batch-1, 1 thread: {path.parent.name}"
    benchmark.extra_info.update(file=str(path), size_kb=round(path.stat().st_size / 1024, 1))
    if path.suffix == ".onnx":
        session = make_session(path, threads=1)
        name = session.get_inputs()[0].name
        run = lambda: session.run(None, {name: batch1})  # noqa: E731
    else:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        x = quantize(batch1, inp)

        def run():
            interpreter.set_tensor(inp["index"], x)
            interpreter.invoke()
            return interpreter.get_tensor(out["index"])

    for _ in range(50):  # warm-up outside the timed rounds
        run()
    benchmark.pedantic(run, rounds=2000, iterations=1, warmup_rounds=100)


@pytest.mark.parametrize("run_dir", [r for r in bench_runs() if (r / "model.keras").is_file()], ids=lambda r: r.name)
def test_keras_call_reference(benchmark, run_dir, batch1):
    from fmnist.export.predictors import load_keras
    from fmnist.train._deps import tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    model = load_keras(run_dir / "model.keras")
    benchmark.group = f"batch-1, 1 thread: {run_dir.name}"
    benchmark.pedantic(lambda: model(batch1, training=False), rounds=200, iterations=1, warmup_rounds=20)
