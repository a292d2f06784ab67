"""Inference off the event loop: `count` classifiers, each with its own one-thread onnxruntime session, lent to
one worker thread at a time, so that as many uploads are decoded, prepared and classified at once as there are
workers (one per core by default) while the event loop goes on reading and answering other requests.

An upload is read with the runtime's own reader (fmnist.runtime.image.read_image_bytes: its header checked before
anything is allocated) and answered with classify's own `Outcome`, so the API's JSON is `classify --json`'s. An
image that decodes to over LARGE_BYTES is decoded by one worker at a time: the memory of several at once is
bounded by one large picture, not by one per core. A large image waits for its turn before it takes a worker, so
small photos keep the other workers while one large picture decodes."""

from __future__ import annotations

import base64
import io
import queue
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import cv2

from fmnist.core.bounded import sha256_file
from fmnist.core.session import cores
from fmnist.runtime.batch import Outcome
from fmnist.runtime.classifier import Classifier
from fmnist.runtime.image import ImageError, ImageTooLarge, is_large, read_image_bytes
from fmnist.runtime.video.http.muted import muted


@dataclass(frozen=True)
class Upload:
    name: str  # the multipart file's name, or the raw body's (?name=)
    data: bytes


@dataclass(frozen=True)
class Asked:
    """What a request asks besides its images: classify's --top and --threshold, and the image the model saw."""

    top: int = 3
    threshold: float | None = None  # None: the model's own
    seen: bool = False


@dataclass(frozen=True)
class Answer:
    outcome: Outcome  # classify's: its to_json() is `classify --json`'s line
    seen: bytes = b""  # the image the model saw, as PNG (asked with ?seen=1)
    too_large: bool = False  # refused for the pixel or decoded-byte limit

    @property
    def status(self) -> int:
        return 200 if self.outcome.result is not None else 413 if self.too_large else 400

    def to_json(self) -> dict[str, Any]:
        row = self.outcome.to_json()
        if self.seen:
            row["seen"] = "data:image/png;base64," + base64.b64encode(self.seen).decode()
        return row


class Workers:
    """The model opened once per worker; `classify` runs one upload in a worker thread."""

    def __init__(self, model: str | Path | None, count: int = 0, threshold: float | None = None) -> None:
        self.count = count or cores()
        first = Classifier(model, threads=1, threshold=threshold)
        self.path, self.labels, self.threshold, self.note = first.path, first.labels, first.threshold, first.note
        self.sha256 = sha256_file(first.path)
        self._free: queue.SimpleQueue[Classifier] = queue.SimpleQueue()
        self._free.put(first)
        for _ in range(self.count - 1):
            self._free.put(Classifier(model, threads=1, threshold=threshold))
        self._limiter: anyio.CapacityLimiter | None = None
        self._large: anyio.Lock | None = None

    async def classify(self, upload: Upload, asked: Asked) -> Answer:
        if self._limiter is None or self._large is None:  # made in the event loop that uses them
            self._limiter, self._large = anyio.CapacityLimiter(self.count), anyio.Lock()
        async with self._turn(upload.data, self._large):  # before a worker: a waiting large image holds none
            return await anyio.to_thread.run_sync(self.classify_now, upload, asked, limiter=self._limiter)

    def classify_now(self, upload: Upload, asked: Asked) -> Answer:
        """One upload, in the calling thread, with a classifier of its own."""
        with self._lent() as classifier:
            try:
                with muted():  # libjpeg's and OpenCV's notes on a client's bad upload are not the server's
                    image = read_image_bytes(upload.data, upload.name, classifier.preparation.enough())
                result = classifier.classify(image, top=asked.top, threshold=asked.threshold)
            except ImageError as e:
                return Answer(Outcome(Path(upload.name), error=str(e)), too_large=isinstance(e, ImageTooLarge))
        seen = cv2.imencode(".png", result.prepared.image)[1].tobytes() if asked.seen else b""
        return Answer(Outcome(Path(upload.name), result), seen)

    @contextmanager
    def _lent(self) -> Iterator[Classifier]:
        classifier = self._free.get()  # never waits: the limiter lets `count` threads in
        try:
            yield classifier
        finally:
            self._free.put(classifier)

    @staticmethod
    def _turn(data: bytes, lock: anyio.Lock) -> AbstractAsyncContextManager[Any]:
        """The large images' one-at-a-time lock, for an image whose header declares over LARGE_BYTES decoded (the
        header alone is read: a few bytes)."""
        return lock if is_large(io.BytesIO(data)) else nullcontext()
