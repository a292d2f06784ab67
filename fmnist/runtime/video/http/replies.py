"""The app's answers: strict JSON (NaN and infinity as null, as every fmnist JSON output), and refusals, which a
route raises and the app turns into `{"error": ...}` with their status."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from fmnist.core.jsonsafe import dumps


class Json(Response):
    """JSON written by fmnist.core.jsonsafe: the same text `classify --json` prints for the same dict."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


class Refused(Exception):
    """A request fmnist will not answer: its HTTP status and why, in one line that says what to send instead.
    `detail` adds fields to the JSON (a multipart request's other files)."""

    def __init__(self, status: int, message: str, detail: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.detail, self.headers = status, message, detail or {}, headers or {}

    def response(self) -> Json:
        return Json({"error": self.message, **self.detail}, self.status, headers=self.headers)


def refusal(status: int, message: str, headers: dict[str, str] | None = None) -> bytes:
    """A refusal's body, for the ASGI layer below the app (limits): the same JSON a route's Refused gives."""
    return Refused(status, message, headers=headers).response().body
