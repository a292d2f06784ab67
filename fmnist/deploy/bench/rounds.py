"""Time several rows side by side: one worker process per row (fmnist.deploy.bench.worker), all open at once, taking
turns in rounds whose order rotates. A slow spell of a shared machine then falls on every row alike instead
of on whichever row was running, and the ratios between rows hold up from run to run."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fmnist.core.errors import FmnistError
from fmnist.core.timing import median_of_round_medians
from fmnist.runtime.preparation import CUTOUT


@dataclass(frozen=True)
class Timing:
    """One row's figures from its own process: cold start, batch-1 latency, throughput and peak memory."""

    cold_ms: float
    p50_us: float  # median of the rounds' medians (fmnist.core.timing.median_of_round_medians)
    p90_us: float  # over every batch-1 call
    p99_us: float
    throughput_batch: int
    throughput_ips: int  # images per second at throughput_batch
    peak_rss_mb: float


class Worker:
    """A running `python -m fmnist.deploy.bench.worker MODEL THREADS BATCHES SHAPE`: one JSON line per request."""

    def __init__(self, path: Path, threads: int, batches: list[int],
                 shape: tuple[int, ...] = CUTOUT.input_shape) -> None:
        """`shape`: one input image (28x28x1, or the photo tier's colour square)."""
        self.name = f"{path} on {threads} thread(s)"
        # the worker's stderr (TensorFlow's chatter) goes to a file that lives as long as the worker: a pipe
        # nobody reads could fill and stall it
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "fmnist.deploy.bench.worker", str(path), str(threads), ",".join(map(str, batches)),
             ",".join(map(str, shape))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)
        try:
            self.started = self._read()
        except FmnistError:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _read(self) -> dict[str, Any]:
        """The worker's next JSON line; a library's own print on stdout is skipped."""
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        self._proc.wait()
        self._log.seek(0)
        last = (self._log.read().strip().splitlines() or ["no output"])[-1]
        raise FmnistError(f"benchmarking {self.name} failed: {last}")

    def _send(self, line: str) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            pass  # the worker has died: the read that follows says why

    def ask(self, calls: int, big_calls: int) -> dict[str, Any]:
        self._send(f"{calls} {big_calls}")
        return self._read()

    def finish(self) -> dict[str, Any]:
        self._send("")
        done = self._read()
        self._proc.wait()
        self._log.close()
        return done

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._log.close()


def time_side_by_side(jobs: list[tuple[Path, int, tuple[int, ...]]], batches: list[int], iterations: int, rounds: int,
                      progress: Callable[[str], None] = lambda _: None) -> list[Timing]:
    """Per (model, threads, input shape) job: cold start, batch-1 latency (p50:
    fmnist.core.timing.median_of_round_medians, as in interleaved_p50_us; p90 and p99 over all `iterations` calls),
    throughput at the largest batch and peak RSS. Workers start one at a time, so each cold start is alone."""
    calls = max(10, -(-iterations // rounds))
    big_calls = max(1, -(-max(3, iterations // 50) // rounds))
    workers: list[Worker] = []
    try:
        for path, threads, shape in jobs:
            progress(f"opening {path} on {threads} thread(s)")
            workers.append(Worker(path, threads, batches, shape))
        times: list[list[np.ndarray]] = [[] for _ in jobs]
        big_seconds = [0.0 for _ in jobs]
        for r in range(rounds):
            progress(f"round {r + 1}/{rounds}: {calls} batch-1 calls per row, side by side")
            for i in [(r + k) % len(jobs) for k in range(len(jobs))]:
                got = workers[i].ask(calls, big_calls)
                times[i].append(np.asarray(got["times_us"]))
                big_seconds[i] += got["big_seconds"]
        ends = [w.finish() for w in workers]
    finally:
        for w in workers:
            w.kill()
    rows = []
    for w, t, seconds, end in zip(workers, times, big_seconds, ends, strict=True):
        p90, p99 = (round(float(v), 1) for v in np.percentile(np.concatenate(t), [90, 99]))
        rows.append(Timing(cold_ms=w.started["cold_ms"], p50_us=round(median_of_round_medians(t), 1), p90_us=p90,
                           p99_us=p99, throughput_batch=max(batches),
                           throughput_ips=round(max(batches) * big_calls * rounds / seconds),
                           peak_rss_mb=end["peak_rss_mb"]))
    return rows
