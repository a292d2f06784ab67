"""The one app `fmnist serve` and `fmnist live --serve` run: the classify API, the live preview, or both, behind
the limits (fmnist.runtime.video.http.limits). Every error a client can cause is answered as JSON `{"error": ...}` with
its status; a bug in fmnist is a 500 that says only "internal error" to the client, with its traceback on the
server's stderr."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fmnist.core.errors import FmnistError
from fmnist.runtime.video.http import classify_routes, live_routes
from fmnist.runtime.video.http.limits import Guard, Limits
from fmnist.runtime.video.http.replies import Json, Refused
from fmnist.runtime.video.http.workers import Workers
from fmnist.runtime.video.preview import Preview


def build(workers: Workers | None, preview: Preview | None, limits: Limits) -> Guard:
    """The app with the classify API when given `workers`, the live routes when given `preview`."""
    found: list[BaseRoute] = [Route(f"/{name}", _asset(name, kind)) for name, kind in ASSETS.items()]
    if workers is not None:
        found += classify_routes.routes(workers, live=preview is not None)
    if preview is not None:
        found += live_routes.routes(preview, at_root=workers is None)
    else:
        found += live_routes.sourceless()
    handlers = {Refused: _refused, HTTPException: _http("; see /openapi.json" if workers is not None else ""),
                FmnistError: _ours, ClientDisconnect: _gone, Exception: _bug}
    return Guard(Starlette(routes=found, exception_handlers=handlers), limits)


ASSETS = {"guesses.js": "text/javascript", "panel.css": "text/css"}  # what the upload and live pages share


def _asset(name: str, kind: str) -> Callable[[Request], Awaitable[Response]]:
    data = resources.files("fmnist.runtime.video.http").joinpath(name).read_bytes()

    async def asset(request: Request) -> Response:
        return Response(data, media_type=kind, headers={"Cache-Control": "no-cache"})

    return asset


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return exc.response()


def _http(hint: str) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Starlette's own: 404, 405, a malformed form; `hint` points to the API's description, where there is one."""

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        known = {404: f"no {request.url.path!r:.80} here{hint}",
                 405: f"{request.method} is not answered at {request.url.path!r:.80}{hint}",
                 400: f"the multipart form cannot be read ({exc.detail}); {_form_advice(str(exc.detail))}"}
        return Json({"error": known.get(exc.status_code, str(exc.detail))}, exc.status_code, headers=exc.headers)

    return handler


def _form_advice(detail: str) -> str:
    """What a client does about Starlette's reason for refusing a multipart form."""
    if detail.startswith("Too many files"):
        return f"send at most {classify_routes.MAX_FILES} files in one request"
    if detail.startswith("Too many fields"):
        return f"send at most {classify_routes.MAX_FILES} text fields in one request; only its files are read"
    if detail.startswith("Missing boundary"):
        return "its Content-Type names no boundary: let the HTTP client write the form (curl -F file=@photo.jpg)"
    return "send it with an HTTP client (curl -F file=@photo.jpg)"


async def _gone(request: Request, exc: Exception) -> Response:
    """The client went away before its body was whole: nothing to answer, and nothing to say about it."""
    return Response(status_code=400)


async def _ours(request: Request, exc: Exception) -> Response:
    """A server-side problem fmnist knows (the model failed on this input): its one line, as the CLI's."""
    return Json({"error": str(exc)}, 500)


async def _bug(request: Request, exc: Exception) -> Response:
    traceback.print_exception(exc, file=sys.stderr)
    return Json({"error": "internal error in fmnist serve; its traceback is on the server's stderr"}, 500)
