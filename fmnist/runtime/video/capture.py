"""Frames for `fmnist live`, numbered and time-stamped at capture, in one of two ways:

- `LatestFrame`: a thread reads the source as fast as it delivers and keeps only the newest frame, so a
  slow consumer never falls behind a camera; frames overwritten before anyone took them are counted as
  dropped. Cameras and streams, and files played at their own fps (`--realtime`).
- `EveryFrame`: read on demand, nothing skipped. Files, by default.

Both hand out `Frame`s; the age of a label is the time from its frame's `captured` to the label.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Read = Callable[[], "np.ndarray | None"]  # the next frame, or None at the end of the source
STOP_WAIT_S = 1.0  # how long stop() waits for a capture thread to leave its read


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    number: int  # 0-based position in the source
    captured: float  # time.perf_counter() when the source delivered it


class EveryFrame:
    """Every frame, in order, read when asked for."""

    def __init__(self, read: Read) -> None:
        self.read, self.count, self.dropped = read, 0, 0

    def get(self) -> Frame | None:
        image = self.read()
        if image is None:
            return None
        frame = Frame(image, self.count, time.perf_counter())
        self.count += 1
        return frame

    def stop(self) -> bool:
        return True


class LatestFrame:
    """A capture thread that keeps only the newest frame. `fps` paces a file to its own frame rate; `on_stop` tells
    the source that the run is ending (a reopen under way then gives up)."""

    def __init__(self, read: Read, fps: float = 0.0, on_stop: Callable[[], None] | None = None) -> None:
        self.read, self.interval, self.on_stop = read, (1.0 / fps if fps > 0 else 0.0), on_stop
        self.count, self.dropped = 0, 0
        self._latest: Frame | None = None
        self._ended, self._error, self._stop = False, None, threading.Event()
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._capture, name="fmnist-capture", daemon=True)
        self._thread.start()

    def _capture(self) -> None:
        start = time.perf_counter()
        try:
            while not self._stop.is_set():
                if self.interval:  # a file at its own pace: frame n is due at start + n / fps
                    wait = start + self.count * self.interval - time.perf_counter()
                    if wait > 0 and self._stop.wait(wait):
                        break
                image = self.read()
                if image is None:
                    break
                with self._ready:
                    if self._latest is not None:
                        self.dropped += 1  # nobody took the previous one: it is stale now
                    self._latest = Frame(image, self.count, time.perf_counter())
                    self.count += 1
                    self._ready.notify()
        except Exception as e:  # a source that failed for good (SourceError): raised to the consumer
            self._error = e
        finally:
            with self._ready:
                self._ended = True
                self._ready.notify_all()

    def get(self) -> Frame | None:
        """The newest frame not handed out yet; waits for one. None once the source has ended."""
        with self._ready:
            while self._latest is None and not self._ended:
                self._ready.wait()
            frame, self._latest = self._latest, None
        if frame is None and self._error is not None:
            raise self._error
        return frame

    def stop(self) -> bool:
        """Ask the thread (and the source, through `on_stop`) to end and wait for it a moment; False if it is still
        inside a read or an open (a stalled stream, until its timeout), so the source must not be released under it:
        the thread is left to end on its own, and the run ends now."""
        self._stop.set()
        if self.on_stop:
            self.on_stop()
        self._thread.join(timeout=STOP_WAIT_S)
        return not self._thread.is_alive()
