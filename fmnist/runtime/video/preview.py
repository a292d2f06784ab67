"""What `fmnist live` shows a browser: the latest annotated frame as JPEG, its status and the image the model saw.
The live loop publishes them; the HTTP app (fmnist.runtime.video.http.live_routes) serves them to every viewer, with its
page (fmnist/runtime/video/http/live.html): no external assets, so it works offline on a Pi's LAN."""

from __future__ import annotations

import threading
from typing import Any


class Preview:
    """The latest annotated JPEG and status; the loop publishes, HTTP clients wait for the next one."""

    def __init__(self, model: str = "", url: str = "") -> None:
        self.model = model  # the model file's name, shown on the page
        self.url = url  # where the page is served, said in live's start line
        self._changed = threading.Condition()
        self._jpeg = self._seen = b""
        self._status: dict[str, Any] = {}
        self._sequence = 0
        self.closed = False

    def publish(self, jpeg: bytes, status: dict[str, Any], seen: bytes = b"") -> None:
        with self._changed:
            self._jpeg, self._status, self._seen = jpeg, status, seen
            self._sequence += 1
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    def next_frame(self, after: int, timeout: float = 5.0) -> tuple[int, bytes]:
        """The frame after number `after` (waiting at most `timeout` seconds for it): (its number, its JPEG)."""
        with self._changed:
            self._changed.wait_for(lambda: self._sequence > after or self.closed, timeout)
            return self._sequence, self._jpeg

    def status(self) -> dict[str, Any]:
        with self._changed:
            return dict(self._status)

    def seen(self) -> bytes:
        with self._changed:
            return self._seen
