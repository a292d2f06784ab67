"""`fmnist live --serve`: a preview page, an MJPEG stream and a /status endpoint, standard library only, in a
thread. The page (preview.html beside this file) uses no external assets, so it works offline on a Pi's LAN.

    GET /          the page: the stream, the label large, the top 3 with bars, "not sure" in its own colour, fps,
                   the label's age, the 28x28 image the model saw and the model's name; it polls /status
    GET /stream    multipart/x-mixed-replace JPEG frames, as browsers and VLC read them
    GET /status    the latest result as JSON: frame, label, score, fps, ms, sure, top, age_ms
    GET /seen.png  the 28x28 image the model saw in the latest frame
"""

from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from fmnist.core.errors import UsageError

BOUNDARY = "fmnistframe"
PAGE = resources.files("fmnist.runtime.video").joinpath("preview.html")


def page(model: str) -> bytes:
    return PAGE.read_text(encoding="utf-8").replace("{{MODEL}}", html.escape(model or "?")).encode()


class Preview:
    """The latest annotated JPEG and status; the loop publishes, HTTP clients wait for the next one."""

    def __init__(self, model: str = "") -> None:
        self.model = model  # the model file's name, shown on the page
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
        with self._changed:
            self._changed.wait_for(lambda: self._sequence > after or self.closed, timeout)
            return self._sequence, self._jpeg

    def status(self) -> dict[str, Any]:
        with self._changed:
            return dict(self._status)

    def seen(self) -> bytes:
        with self._changed:
            return self._seen


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep the terminal for fmnist's own status line
            pass

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(page(preview.model), "text/html; charset=utf-8")
            elif path == "/status":
                self._send(json.dumps(preview.status()).encode(), "application/json")
            elif path == "/seen.png" and preview.seen():
                self._send(preview.seen(), "image/png")
            elif path == "/stream":
                self._stream()
            else:
                self.send_error(404, "try /, /stream, /status or /seen.png")

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = 0
            try:
                while not preview.closed:
                    seen, jpeg = preview.next_frame(seen)
                    if not jpeg:
                        continue
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                     f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the viewer went away

    return Handler


def parse_address(address: str) -> tuple[str, int]:
    """"8080" or "HOST:PORT" -> (host, port); the host defaults to 127.0.0.1 (this machine only)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--serve takes PORT or HOST:PORT, got {address!r}")
    return host or "127.0.0.1", int(port)


def start(address: str, preview: Preview) -> ThreadingHTTPServer:
    """Serve in a daemon thread. The server's real port is `server.server_port` (for port 0)."""
    host, port = parse_address(address)
    try:
        server = ThreadingHTTPServer((host, port), _handler(preview))
    except OSError as e:
        raise UsageError(f"--serve {host}:{port}: {e.strerror or e}; pick another port, e.g. --serve "
                         f"{host}:{port + 1 if port else 8081}") from e
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="fmnist-serve", daemon=True).start()
    return server
