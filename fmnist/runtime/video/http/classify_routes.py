"""The classify API: POST /classify (one image's bytes, or a multipart form of files), GET /health, the upload page
at GET / and the OpenAPI description at GET /openapi.json.

POST /classify answers with `classify --json`'s fields for each image, made by the same `Outcome.to_json`: the
raw body's as one object, a form's as a list in the form's order, each file named by its file name. ?top=K and
?threshold=T are classify's --top and --threshold; ?seen=1 adds the image the model saw (a PNG data URL); ?name=
names a raw body (default "body"). An image that cannot be classified is answered 400 (413 over the pixel limit),
with classify's error line under "error"; a form with any such file is answered so, with every file's outcome
under "results".
"""

from __future__ import annotations

import html
import math
from importlib import resources
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from fmnist.runtime.video.http.openapi import description
from fmnist.runtime.video.http.replies import Json, Refused
from fmnist.runtime.video.http.workers import Answer, Asked, Upload, Workers

MAX_FILES = 16  # files in one multipart form
OCTET = "application/octet-stream"
PAGE = resources.files("fmnist.runtime.video.http").joinpath("classify.html")
QUERY = ("top", "threshold", "seen", "name")


def routes(workers: Workers, live: bool) -> list[Route]:
    """The API's routes; `live` links the upload page to the live page at /live."""
    text = PAGE.read_text(encoding="utf-8").replace("{{MODEL}}", html.escape(workers.path.name))
    page_html = text.replace("{{LIVE}}", "" if live else "hidden")  # made once: every GET sends the same page

    async def classify(request: Request) -> Response:
        asked = parse_query(request)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            return await _form(request, workers, asked)
        if not (kind.startswith("image/") or kind == OCTET):
            raise Refused(415, f"Content-Type {kind or 'missing'!r}: send one image's bytes as image/* or "
                               "application/octet-stream, or files as multipart/form-data")
        name = request.query_params.get("name") or "body"
        answer = await workers.classify(Upload(name, await request.body()), asked)
        return Json(answer.to_json(), answer.status)

    async def health(request: Request) -> Response:
        return Json({"status": "ok", "model": workers.path.name, "sha256": workers.sha256, "labels": workers.labels,
                     "threshold": workers.threshold, "workers": workers.count})

    async def page(request: Request) -> Response:
        return HTMLResponse(page_html, headers={"Cache-Control": "no-store"})

    async def openapi(request: Request) -> Response:
        return Json(description(live))

    return [Route("/classify", classify, methods=["POST"]), Route("/health", health),
            Route("/", page), Route("/openapi.json", openapi)]


def parse_query(request: Request) -> Asked:
    """?top, ?threshold and ?seen, checked as classify checks --top and --threshold; any other name is refused,
    so that a misspelt one is not silently ignored."""
    query = request.query_params
    unknown = [key for key in query if key not in QUERY]
    if unknown:
        raise Refused(400, f"unknown query parameter {unknown[0]!r:.60}; /classify takes {', '.join(QUERY)}")
    repeated = [key for key in QUERY if len(query.getlist(key)) > 1]
    if repeated:
        raise Refused(400, f"query parameter {repeated[0]!r} is given {len(query.getlist(repeated[0]))} times; "
                           "give it once")
    top = _number(query.get("top", "3"), "top", int)
    threshold = _number(query["threshold"], "threshold", float) if "threshold" in query else None
    if not 1 <= top <= 10:
        raise Refused(400, f"top={top}: give 1 to 10 guesses per image")
    if threshold is not None and not 0 <= threshold <= 1:
        raise Refused(400, f"threshold={threshold}: give a probability from 0 to 1")
    seen = query.get("seen", "false").lower()
    if seen not in ("1", "true", "0", "false"):
        raise Refused(400, f"seen={seen!r:.40}: give true or false (1 or 0)")
    return Asked(top, threshold, seen in ("1", "true"))


def _number(text: str, name: str, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise Refused(400, f"{name}={text!r:.40} is not a {'whole ' if kind is int else ''}number")
    return value


async def _form(request: Request, workers: Workers, asked: Asked) -> Response:
    """Each file of the form, in order; the form's other fields are not read."""
    async with request.form(max_files=MAX_FILES, max_fields=MAX_FILES) as form:
        files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        if not files:
            texts = [key for key, value in form.multi_items() if not isinstance(value, UploadFile)]
            why = f"its field {texts[0]!r:.40} is text: a part with no filename" if texts else \
                "or it was cut short before a file part's end"
            raise Refused(400, f"the form holds no file ({why}); send the images as file fields "
                               "(curl -F file=@photo.jpg)")
        answers = [await workers.classify(Upload(f.filename or f"file {i + 1}", await f.read()), asked)
                   for i, f in enumerate(files)]
    return _answered(answers)


def _answered(answers: list[Answer]) -> Response:
    """The files' outcomes as a list, or, when any could not be classified, the first one's error and status with
    every outcome under "results"."""
    rows = [answer.to_json() for answer in answers]
    failed = [answer for answer in answers if answer.status != 200]
    if not failed:
        return Json(rows)
    first = failed[0].outcome.error
    raise Refused(failed[0].status, f"{len(failed)} of {len(answers)} files could not be classified: {first}",
                  {"results": rows})
