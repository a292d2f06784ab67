"""The live preview's routes, as `fmnist live --serve` has always served them:

    GET /live      the page (live.html): the stream, the label large, the top 3 with bars, "not sure" in its own
                   colour, fps, the label's age, the image the model saw and the model's name; it polls /status.
                   Also at GET / when the server has no classify API (`live --serve`)
    GET /stream    multipart/x-mixed-replace JPEG frames, as browsers and VLC read them
    GET /status    the latest result as JSON: frame, label, score, fps, ms, sure, top, age_ms; source_ended: true
                   once the live loop has stopped (`fmnist serve --source` serves its API on)
    GET /seen.png  the image the model saw in the latest frame

A viewer that stops reading is dropped once a frame has waited the server's timeout to be sent to it
(fmnist.runtime.video.http.protocol); one that goes away ends its stream at once; every stream ends when the live loop
closes its preview.
"""

from __future__ import annotations

import html
from importlib import resources

import anyio
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from fmnist.runtime.video.http.replies import Json, Refused
from fmnist.runtime.video.preview import Preview

PATHS = ("/live", "/stream", "/status", "/seen.png")  # the live routes besides "/"

BOUNDARY = "fmnistframe"
WAIT_S = 0.5  # a stream's wait for the next frame, at most: a stop is seen this soon
PAGE = resources.files("fmnist.runtime.video.http").joinpath("live.html")
NO_STORE = {"Cache-Control": "no-store"}


def page(model: str) -> bytes:
    return PAGE.read_text(encoding="utf-8").replace("{{MODEL}}", html.escape(model or "?")).encode()


class Stream:
    """The MJPEG stream of one viewer: each new frame, until the preview closes, the viewer goes or stalls."""

    def __init__(self, preview: Preview) -> None:
        self.preview = preview

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.preview.closed:  # nothing more will come: say so, rather than an empty stream
            await Json({"error": "the live source has ended; /status has its last result"}, 404)(scope, receive, send)
            return
        headers = [(b"content-type", f"multipart/x-mixed-replace; boundary={BOUNDARY}".encode()),
                   (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async with anyio.create_task_group() as group:
            group.start_soon(self._gone, receive, group.cancel_scope)
            await self._frames(send)
            group.cancel_scope.cancel()

    async def _frames(self, send: Send) -> None:
        seen = 0
        while not self.preview.closed:
            seen, jpeg = await anyio.to_thread.run_sync(self.preview.next_frame, seen, WAIT_S, abandon_on_cancel=True)
            if not jpeg:
                continue
            part = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
            await send({"type": "http.response.body", "body": part + jpeg + b"\r\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _gone(receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        scope.cancel()


def routes(preview: Preview, at_root: bool) -> list[Route]:
    """The preview's routes; `at_root` serves its page at / too."""
    page_html = page(preview.model)  # made once: every GET sends the same page

    async def live_page(request: Request) -> Response:
        return HTMLResponse(page_html, headers=NO_STORE)

    async def status(request: Request) -> Response:
        ended = {"source_ended": True} if preview.closed else {}  # the live loop has stopped: the last result
        return Json({**preview.status(), **ended}, headers=NO_STORE)  # NaN as null

    async def seen(request: Request) -> Response:
        png = preview.seen()
        if not png:
            raise Refused(404, "no frame has been classified yet; try again in a moment")
        return Response(png, media_type="image/png", headers=NO_STORE)

    endpoints = zip(PATHS, (live_page, Stream(preview), status, seen), strict=True)
    found = [Route(path, endpoint, methods=["GET"]) for path, endpoint in endpoints]  # GET and HEAD
    return found + ([Route("/", live_page)] if at_root else [])


def sourceless() -> list[BaseRoute]:
    """The live routes of a server with no source (fmnist serve without --source): a 404 that says how to get them."""

    async def no_source(request: Request) -> Response:
        raise Refused(404, f"no {request.url.path} here: the live page needs a source (fmnist serve --source 0 for "
                           "camera 0, or --source clip.mp4); see /openapi.json")

    return [Route(path, no_source) for path in PATHS]
