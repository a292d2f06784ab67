"""The batch-1 latency loop shared by `fmnist bench` and `fmnist export --search`."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def batch1_times_us(run: Callable[[np.ndarray], object], x1: np.ndarray, iterations: int,
                    warmup: int | None = None) -> np.ndarray:
    """Wall time of `iterations` calls of run(x1), in microseconds, after a warm-up (default iterations/20, >= 10)."""
    for _ in range(max(10, iterations // 20) if warmup is None else warmup):
        run(x1)
    times = np.empty(iterations)
    for i in range(iterations):
        t = time.perf_counter_ns()
        run(x1)
        times[i] = time.perf_counter_ns() - t
    return times / 1000
