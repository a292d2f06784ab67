"""Batch-1 latency of one ONNX file under different onnxruntime session options (docs/model.md, "Session").

    .venv/bin/python scripts/session_options.py fmnist/assets/edge.int8.onnx

Rows: graph optimization level (disabled/basic/extended/all) on 1 thread, then 2 threads with and without
spin-waiting. Five interleaved rounds of 1,000 calls; the median is printed.
"""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime as ort

from fmnist.core.timing import interleaved_p50_us

LEVELS = {"disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def session(path: str, level: str, threads: int, spin: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = LEVELS[level]
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main(path: str) -> None:
    rows = {f"optimization {level}, 1 thread": (level, 1, True) for level in LEVELS}
    rows |= {"optimization all, 2 threads, spinning": ("all", 2, True),
             "optimization all, 2 threads, no spinning": ("all", 2, False)}
    sessions = {name: session(path, *args) for name, args in rows.items()}
    x1 = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    runs = {name: (lambda x, s=s: s.run(None, {"image": x})) for name, s in sessions.items()}
    for name, p50 in interleaved_p50_us(runs, x1, rounds=5, calls=1000).items():
        print(f"{name:45s} {p50:7.1f} µs")


if __name__ == "__main__":
    main(sys.argv[1])
