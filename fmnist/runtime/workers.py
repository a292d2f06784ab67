"""classify on every core: worker processes, each with its own onnxruntime session on one thread, the photos handed
out a chunk at a time, the outcomes given back in input order.

A handful of photos (fewer than SMALL) is classified in this process, as before: no pool to start. The pool is
started from a forkserver that imported the runtime once, so a worker costs a fork and its session, not Python's
start-up. A worker ignores Ctrl-C; the pool is stopped by whoever runs it (`stop`). A worker killed from outside
(the kernel's OOM killer, kill -9) breaks the pool: a new one is started and the chunks not yet done are handed out
again, so no photo is lost and no outcome comes twice; after MAX_BREAKS the run stops with an error that says how
many were classified. With --save, a photo of a chunk a worker was on when the pool broke may keep a second copy
(<stem>-2.jpg), and the killed worker may leave a hidden .fmnist-*.tmp file.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import cv2
import numpy as np

from fmnist.core.errors import FmnistError
from fmnist.core.session import cores
from fmnist.runtime.batch import Outcome, classify_path, listed
from fmnist.runtime.classifier import Classifier

SMALL = 64  # fewer photos than this: one process (a pool costs about 0.4 s to start, a photo 3 to 10 ms)
CHUNK = 8  # photos a task: a few tens of ms of work, so every core stays busy to the last photo
AHEAD = 4  # chunks in flight per worker: enough that a worker never waits for the next
MAX_BREAKS = 3  # pools broken by a worker's death before the run gives up


@dataclass(frozen=True)
class Job:
    """What every worker opens once and applies to each photo: classify's options."""

    model: str  # the model file (the parent's Classifier.path)
    labels: tuple[str, ...] | None = None
    threshold: float | None = None
    top: int = 3
    raw: bool = False
    save: Path | None = None


_worker: tuple[Classifier, Job] | None = None  # in a worker process: its classifier and the job


def _start(job: Job) -> None:
    """A worker's start: Ctrl-C is its parent's to handle; one thread for OpenCV, as for onnxruntime."""
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)
    labels = list(job.labels) if job.labels else None
    _worker = (Classifier(job.model, threads=1, labels=labels, threshold=job.threshold), job)


def _light(outcome: Outcome) -> Outcome:
    """An outcome without the prepared image (up to 77 KB a photo), which only --save draws, in the worker."""
    if outcome.result is None:
        return outcome
    prepared = replace(outcome.result.prepared, image=np.empty(0, np.uint8))
    return replace(outcome, result=replace(outcome.result, prepared=prepared))


def _classify_chunk(paths: list[Path]) -> list[Outcome]:
    assert _worker is not None, "a worker's initializer opens its classifier"
    classifier, job = _worker
    return [_light(classify_path(classifier, path, job.top, job.raw, job.save)) for path in paths]


@dataclass
class Pool:
    """The worker processes and the chunks handed to them, oldest first."""

    job: Job
    workers: int
    breaks: int = 0
    done: int = 0  # outcomes given back
    pending: deque[tuple[list[Path], Future[list[Outcome]]]] = field(default_factory=deque)
    executor: ProcessPoolExecutor | None = None

    def open(self) -> None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])  # numpy, OpenCV and onnxruntime imported once, in the server
        else:  # Windows: each worker starts Python afresh
            context = multiprocessing.get_context("spawn")
        self.executor = ProcessPoolExecutor(self.workers, context, initializer=_start, initargs=(self.job,))

    def submit(self, paths: list[Path]) -> None:
        assert self.executor is not None
        try:
            future = self.executor.submit(_classify_chunk, paths)
        except BrokenProcessPool as broken:  # a worker died since the last chunk: this one waits for the new pool
            future = Future()
            future.set_exception(broken)
        self.pending.append((paths, future))

    def oldest(self) -> list[Outcome]:
        """The oldest chunk's outcomes; a broken pool is started anew and every chunk not yet done handed out again."""
        while True:
            _, future = self.pending[0]
            try:
                outcomes = future.result()
            except BrokenProcessPool:
                self._restart()
                continue
            self.pending.popleft()
            self.done += len(outcomes)
            return outcomes

    def _restart(self) -> None:
        self.breaks += 1
        if self.breaks > MAX_BREAKS:
            raise FmnistError(f"the worker processes died {self.breaks} times (killed, or out of memory?); "
                              f"{self.done} photos were classified; rerun with --threads 1, or free some memory")
        chunks = list(self.pending)
        self.stop()
        self.open()
        for paths, future in chunks:  # a chunk done before the death keeps its outcomes: --save wrote its files once
            if future.done() and not future.cancelled() and future.exception() is None:
                self.pending.append((paths, future))
            else:
                self.submit(paths)

    def stop(self) -> None:
        """Every worker ended now, the chunks in flight dropped (Ctrl-C, an error, or a broken pool)."""
        if self.executor is None:
            return
        processes = list(getattr(self.executor, "_processes", {}).values())
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(5)
        # then the executor's own thread, which now sees its workers gone and ends: left running, it could die at
        # exit on the pipes Python closes then ("OSError: [Errno 9] Bad file descriptor" after Ctrl-C's line)
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.executor = None
        self.pending.clear()


def _chunks(items: Iterable[Path | Outcome]) -> Iterator[list[Path] | Outcome]:
    """Photos in chunks of CHUNK, in order; an outcome (an unreadable folder) between them comes on its own."""
    chunk: list[Path] = []
    for item in items:
        if isinstance(item, Outcome):
            if chunk:
                yield chunk
                chunk = []
            yield item
            continue
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def classify_all(classifier: Classifier, inputs: list[str], workers: int, top: int = 3, raw: bool = False,
                 save: Path | None = None, labels: list[str] | None = None) -> Iterator[Outcome]:
    """classify_inputs on `workers` processes (0: one per core; 1: this one), outcomes in input order. Fewer than
    SMALL photos are classified here with `classifier`; more, each worker opens the same model with the same
    options."""
    workers = workers or cores()
    items = listed(inputs, save)
    head = list(islice(items, SMALL))
    if workers <= 1 or len(head) < SMALL:
        for item in [*head, *items]:
            yield item if isinstance(item, Outcome) else classify_path(classifier, item, top, raw, save)
        return
    job = Job(str(classifier.path), tuple(labels) if labels else None, classifier.threshold, top, raw, save)
    yield from _pooled(Pool(job, workers), _chunks([*head, *items]))


def _pooled(pool: Pool, work: Iterator[list[Path] | Outcome]) -> Iterator[Outcome]:
    """Each chunk's outcomes through the pool, in order, AHEAD chunks a worker in flight; the pool stopped at the
    end, on an error or on Ctrl-C."""
    pool.open()
    waiting: deque[Outcome | None] = deque()  # an unreadable folder's outcome, or None: the next chunk in flight
    try:
        for item in work:
            if isinstance(item, Outcome):
                waiting.append(item)
            else:
                pool.submit(item)
                waiting.append(None)
            while len(pool.pending) >= AHEAD * pool.workers or (waiting and waiting[0] is not None):
                yield from _next(pool, waiting)
        while waiting:
            yield from _next(pool, waiting)
    finally:
        pool.stop()


def _next(pool: Pool, waiting: deque[Outcome | None]) -> list[Outcome]:
    item = waiting.popleft()
    return [item] if item is not None else pool.oldest()
