"""Segmentation for the video path, in the loop (`Segmenter`) or off it (`BackgroundSegmenter`): either runs the
segment step it is given, the kind's own (fmnist.runtime.frame_path.SegmentingFrames.segment), on a job's picture.

The cut-out's GrabCut is nearly all of its preprocessing's cost (20-250 ms on this machine, about 5x that on a
Raspberry Pi), so a live source hands it to a thread and goes on reading, drawing and serving frames. OpenCV releases
the GIL inside GrabCut: beside a thread segmenting non-stop, a 0.7 ms frame step kept its p99 at 1.3 ms on the other
core and at 1.3 ms on the same core at nice 19 (0.9 ms alone; 5.1 ms beside it at normal priority on the same
core): `python -m scripts.segment_thread`, docs/live.md. So a thread, not a process: no frame is copied across
processes.

The thread runs at the lowest priority (nice 19), so on one core the loop always goes first, and with two or
more cores it is pinned to the last one, so the loop keeps the others.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SegmentFn = Callable[[np.ndarray], Any]  # a shrunk picture -> the kind's segmentation of it


@dataclass(frozen=True)
class Job:
    small: np.ndarray  # the work-size picture to segment (SegmentingFrames.shrink)
    view: np.ndarray  # its view (SegmentingFrames.view): the scene it shows
    captured: float  # when its frame was captured (time.perf_counter())


@dataclass(frozen=True)
class Done:
    segment: Any  # what the kind's segment step returned
    job: Job


class Segmenter:
    """In the loop: a job is segmented when submitted and its result is ready at once. For a video file read
    frame by frame, where nothing is live to fall behind and every frame should get its label.

    A segmentation that raises gives no result (its frames stay "not sure"), is counted in `failures`, and is
    reported once on stderr: one bad frame never ends a live run or silences its labels."""

    background = False

    def __init__(self, segment_fn: SegmentFn) -> None:
        self._segment = segment_fn
        self._done: Done | None = None
        self.latest: Job | None = None  # the last job submitted
        self.failures = 0

    def submit(self, job: Job) -> None:
        self.latest = job
        self._done = self._run(job)

    def _run(self, job: Job) -> Done | None:
        try:
            return Done(self._segment(job.small), job)
        except Exception as e:  # a bug or a frame OpenCV chokes on: this frame goes unlabelled, the next is tried
            self.failures += 1
            if self.failures == 1:
                print(f"warning: segmentation failed on a frame ({type(e).__name__}: {e}); such frames are "
                      "answered 'not sure'", file=sys.stderr)
            return None

    def take(self) -> Done | None:
        """The finished result not taken yet, if any."""
        done, self._done = self._done, None
        return done

    @property
    def pending(self) -> bool:
        """A job is waiting or running."""
        return False

    def close(self) -> None:
        pass


class BackgroundSegmenter(Segmenter):
    """Off the loop: one thread segments the newest job submitted; a job not started yet is replaced by a newer
    one. For cameras, streams and files played in real time."""

    background = True

    def __init__(self, segment_fn: SegmentFn) -> None:
        super().__init__(segment_fn)
        self._changed = threading.Condition()
        self._waiting: Job | None = None
        self._running = False
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="fmnist-segment", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._changed:
            self.latest, self._waiting = job, job
            self._changed.notify()

    def take(self) -> Done | None:
        with self._changed:
            done, self._done = self._done, None
            return done

    @property
    def pending(self) -> bool:
        with self._changed:
            return self._running or self._waiting is not None

    def wait(self, timeout: float = 5.0) -> bool:
        """Until no job is waiting or running (for tests and benchmarks); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not (self._running or self._waiting) or self._closed, timeout)

    @property
    def native_id(self) -> int | None:
        """The worker thread's id in the OS (its priority and cores can be read there)."""
        return self._thread.native_id

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=5.0)

    def _work(self) -> None:
        _step_aside()
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._waiting is not None or self._closed)
                if self._closed:
                    return
                job, self._waiting, self._running = self._waiting, None, True
            assert job is not None
            done = self._run(job)
            with self._changed:
                self._done, self._running = done, False
                self._changed.notify_all()


def _step_aside() -> None:
    """This thread at the lowest priority and, with two or more cores, on the last one (Linux; elsewhere a no-op)."""
    me = threading.get_native_id()
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, me, 19)  # Linux: a thread's own nice value
    if hasattr(os, "sched_getaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) > 1:
            os.sched_setaffinity(me, {cores[-1]})
