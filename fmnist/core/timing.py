"""The batch-1 latency loop shared by `fmnist bench` and `fmnist export --search`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

K = TypeVar("K")


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


def median_of_round_medians(rounds: list[np.ndarray]) -> float:
    """The p50 of a runner timed in rounds: each round's median, then the median of those. A slow round moves it
    least."""
    return float(np.median([np.median(one) for one in rounds]))


def interleaved_p50_us(runs: dict[K, Callable[[np.ndarray], object]], x1: np.ndarray, rounds: int, calls: int,
                       on_round: Callable[[int], None] = lambda _: None) -> dict[K, float]:
    """Batch-1 p50 of several runners measured side by side: `rounds` rounds over all of them, each round's median
    of `calls` calls, then the median over rounds. A noisy neighbour slows every runner alike."""
    times: dict[K, list[np.ndarray]] = {key: [] for key in runs}
    for r in range(rounds):
        on_round(r)
        for key, run in runs.items():
            times[key].append(batch1_times_us(run, x1, calls))
    return {key: median_of_round_medians(values) for key, values in times.items()}
