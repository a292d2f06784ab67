"""One benchmark row, in its own process so that cold start and peak RSS belong to that model alone.

    python -m fmnist.deploy.bench.worker MODEL THREADS BATCHES SHAPE

It opens the model (the cold start) and prints one JSON line, then waits for the parent's rounds: each line
"CALLS BIG_CALLS" on stdin makes it time CALLS batch-1 calls and BIG_CALLS calls at the largest batch, and
print the times as one JSON line. An empty line or end of input prints the peak RSS and ends it. Several
workers stay open at once and take turns, so the rows of one `fmnist bench` run are timed side by side.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.formats import detect
from fmnist.core.timing import batch1_times_us
from fmnist.evaluation.predictors import runner

Run = Callable[[np.ndarray], object]


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


SETTLE_S = 0.05  # the previous row's thread pools spin for a few ms after its turn; TensorFlow's for longer


def _settle(run: Run, x1: np.ndarray) -> None:
    """Untimed calls for SETTLE_S at the start of a turn, so that the row before has gone quiet."""
    end = time.perf_counter() + SETTLE_S
    while time.perf_counter() < end:
        run(x1)


def _pin(threads: int) -> None:
    """Run on the first `threads` CPUs this process may use (Linux), so every row runs on the same cores. On a
    shared 2-core machine the two cores differ in speed from moment to moment: five runs with the rows free
    to land on either core put the same two files at 0.96-1.61x of each other; pinned, seven of ten runs
    gave 1.00-1.04x (all ten 0.77-1.34x)."""
    if hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(allowed[:threads]))


def serve(path: Path, threads: int, batches: list[int], shape: tuple[int, ...]) -> None:
    """Time `path` on random inputs of `shape` (one image: 28x28x1, or the photo tier's colour square)."""
    _pin(threads)
    x = np.random.default_rng(0).random((max(batches), *shape), dtype=np.float32)
    found = detect(path)
    importlib.import_module(found.loads)  # the runtime first: its import is not the model's cold start
    started = time.perf_counter()
    run = runner(path, threads)  # the harness's raw runner: it adapts to each batch size
    run(x[:1])  # the first inference allocates
    cold_ms = (time.perf_counter() - started) * 1000
    run(x)
    _reply({"cold_ms": round(cold_ms, 2)})
    for line in sys.stdin:
        if not line.strip():
            break
        calls, big_calls = (int(v) for v in line.split())
        _settle(run, x[:1])
        times = batch1_times_us(run, x[:1], calls)
        t = time.perf_counter()
        for _ in range(big_calls):
            run(x)
        _reply({"times_us": np.round(times, 2).tolist(), "big_seconds": time.perf_counter() - t})
    _reply({"peak_rss_mb": round(_peak_rss_kb() / 1024, 1)})


def _peak_rss_kb() -> int:
    """This process's peak RSS. VmHWM, unlike ru_maxrss, is not inherited from the parent across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: kilobytes there too, or close


if __name__ == "__main__":
    model, threads, batches, shape = sys.argv[1:5]
    serve(Path(model), int(threads), [int(b) for b in batches.split(",")], tuple(int(v) for v in shape.split(",")))
