"""The API's OpenAPI 3.1 description (GET /openapi.json), so that clients can be generated. Its limits are the
server's own constants; `tests/test_serve_api.py` checks every answer the API gives against it."""

from __future__ import annotations

from typing import Any

from fmnist import __version__
from fmnist.runtime.video.http.limits import MAX_BODY_BYTES, MAX_CONNECTIONS, MAX_HELD_BYTES, MAX_REQUESTS, MAX_STREAMS

GUESS = {"type": "object", "required": ["label", "index", "score"],
         "properties": {"label": {"type": "string"}, "index": {"type": "integer"},
                        "score": {"type": ["number", "null"]}}}
OUTCOME = {
    "type": "object", "required": ["input"],
    "description": "One image's answer: the fields of `fmnist classify --json`'s line for it, or why it could not "
                   "be classified (error).",
    "properties": {
        "input": {"type": "string", "description": "the file's name (multipart), or ?name= (a raw body)"},
        "label": {"type": "string", "description": "the best guess's label (top[0]); see `sure`"},
        "index": {"type": "integer"}, "score": {"type": ["number", "null"], "description": "top[0]'s probability"},
        "sure": {"type": "boolean", "description": "an object was found and score reached the threshold"},
        "threshold": {"type": "number"}, "top": {"type": "array", "items": GUESS},
        "ms": {"type": "number", "description": "preparation and inference, milliseconds"},
        "low_contrast": {"type": "boolean"}, "empty": {"type": "boolean"},
        "seen": {"type": "string", "description": "with ?seen=1: the image the model saw, a PNG data URL"},
        "error": {"type": "string", "description": "why this image could not be classified"},
    },
}
ERROR = {"type": "object", "required": ["error"],
         "properties": {"error": {"type": "string"}, "results": {"type": "array", "items": OUTCOME}}}
HEALTH = {"type": "object", "required": ["status", "model", "sha256", "labels", "threshold", "workers"],
          "properties": {"status": {"const": "ok"}, "model": {"type": "string"}, "sha256": {"type": "string"},
                         "labels": {"type": "array", "items": {"type": "string"}}, "threshold": {"type": "number"},
                         "workers": {"type": "integer"}}}
STATUS = {"type": "object", "description": "the latest frame's result (empty before the first)",
          "properties": {"frame": {"type": "integer"}, "label": {"type": "string"},
                         "score": {"type": ["number", "null"]}, "fps": {"type": ["number", "null"]},
                         "ms": {"type": "number"}, "sure": {"type": "boolean"},
                         "top": {"type": "array", "items": {"type": "object"}}, "age_ms": {"type": "number"},
                         "source_ended": {"type": "boolean", "description": "true once the live loop has stopped"}}}


def _json(schema: dict[str, Any], what: str) -> dict[str, Any]:
    return {"description": what, "content": {"application/json": {"schema": schema}}}


def _query(name: str, schema: dict[str, Any], what: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": what}


REFUSALS = {
    "400": _json(ERROR, "not an image, a damaged one, a bad query parameter, or a form with no file"),
    "408": _json(ERROR, "the body did not arrive in time"),
    "413": _json(ERROR, f"a body over {MAX_BODY_BYTES:,} bytes (refused before it is read), or an image over the "
                        "pixel limit (100 MP) or the decoded-byte limit"),
    "415": _json(ERROR, "a Content-Type other than image/*, application/octet-stream or multipart/form-data"),
    "503": _json(ERROR, f"busy: over {MAX_REQUESTS} requests at once, {MAX_CONNECTIONS} connections open, or "
                        f"{MAX_HELD_BYTES:,} bytes of uploads held at once; see Retry-After"),
}
# Answers any route can give: a method the path does not answer, and a fault of the server's own (the client sees
# only "internal error"; the traceback goes to the server's stderr). A path not listed here is answered 404.
ANY = {"400": _json(ERROR, "a request that is not valid HTTP/1.1"),
       "405": _json(ERROR, "a method this path does not answer"),
       "421": _json(ERROR, "on a loopback bind, a Host header that is not a loopback name"),
       "500": _json(ERROR, "a fault in the server, not in the request")}
BUSY = {"503": _json(ERROR, f"busy: over {MAX_REQUESTS} requests at once or {MAX_CONNECTIONS} connections open; "
                            "see Retry-After")}
BINARY = {"schema": {"type": "string", "format": "binary"}}
CLASSIFY = {
    "summary": "Classify one image, or each file of a form, as `fmnist classify --json` does",
    "operationId": "classify",
    "parameters": [
        _query("top", {"type": "integer", "minimum": 1, "maximum": 10, "default": 3}, "guesses per image"),
        _query("threshold", {"type": "number", "minimum": 0, "maximum": 1},
               "below this top probability, 'not sure' (default: the model's own)"),
        _query("seen", {"type": "boolean", "default": False}, "add the image the model saw (seen)"),
        _query("name", {"type": "string", "default": "body"}, "the raw body's name, as its answer's input"),
    ],
    "requestBody": {"required": True, "content": {
        "image/*": BINARY, "application/octet-stream": BINARY,
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}},
    "responses": {"200": _json({"oneOf": [OUTCOME, {"type": "array", "items": OUTCOME}]},
                               "one object for a raw body; a list, in the form's order, for a form"),
                  **REFUSALS, **ANY},
}


def _get(summary: str, name: str, ok: dict[str, Any], more: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GET route's description: its answer, `more` (default: the 503 of a busy server), and what any route gives."""
    return {"get": {"summary": summary, "operationId": name,
                    "responses": {"200": ok, **(BUSY if more is None else more), **ANY}}}


HTML = {"description": "an HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
LIVE = {
    "/live": _get("The live preview page: the stream, the label, the top 3 and what the model saw", "live", HTML),
    "/status": _get("The live loop's latest result", "status", _json(STATUS, "the latest result")),
    "/seen.png": _get("The image the model saw in the latest frame", "seen",
                      {"description": "PNG", "content": {"image/png": BINARY}},
                      {"404": _json(ERROR, "no frame yet"), **BUSY}),
    "/stream": _get("The annotated frames as MJPEG (multipart/x-mixed-replace)", "stream",
                    {"description": "MJPEG", "content": {"multipart/x-mixed-replace": BINARY}},
                    {"404": _json(ERROR, "the live source has ended"),
                     "503": _json(ERROR, f"busy: {MAX_STREAMS} viewers at once; see Retry-After")}),
}


def description(live: bool) -> dict[str, Any]:
    """The OpenAPI document; `live` adds the live preview's routes."""
    paths: dict[str, Any] = {
        "/classify": {"post": CLASSIFY},
        "/health": _get("The model being served, once it is loaded (never refused as busy)", "health",
                        _json(HEALTH, "ready"), {}),
        "/": _get("A page to drop or pick a photo and see its answer", "page", HTML),
        "/openapi.json": _get("This description", "openapi", _json({"type": "object"}, "OpenAPI 3.1")),
    }
    return {"openapi": "3.1.0",
            "info": {"title": "fmnist serve", "version": __version__,
                     "description": "Fashion-MNIST and photo classification over HTTP: the same answers as "
                                    "`fmnist classify --json`. A path not listed here is answered 404, and every "
                                    "error as JSON {\"error\": ...}."},
            "paths": paths | (LIVE if live else {})}
