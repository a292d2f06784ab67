"""`fmnist live --serve`: a preview page, an MJPEG stream and a /status endpoint, standard library only, in a
thread. The page (preview.html beside this file) uses no external assets, so it works offline on a Pi's LAN.

    GET /          the page: the stream, the label large, the top 3 with bars, "not sure" in its own colour, fps,
                   the label's age, the image the model saw (captioned with its size) and the model's name; it
                   polls /status
    GET /stream    multipart/x-mixed-replace JPEG frames, as browsers and VLC read them
    GET /status    the latest result as JSON: frame, label, score, fps, ms, sure, top, age_ms
    GET /seen.png  the image the model saw in the latest frame: its prepared input (a 28x28 grey cut-out, or
                   the photo tier's colour square at the model's size)

Limits, so that a browser left open, a port scanner or a hostile page never takes the preview (or `live`) down:
each request must arrive within `timeout` seconds and a viewer that stops reading is dropped after as long; at
most `max_clients` connections are served at once, and the next ones get a 503 at once; a client that resets or
goes away costs nothing but its connection, with no traceback. On a loopback bind, a request whose Host header is
not a loopback name is refused (421), so a web page cannot reach the camera through DNS rebinding.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from fmnist.core.errors import UsageError
from fmnist.core.jsonsafe import dumps

BOUNDARY = "fmnistframe"
TIMEOUT_S = 10.0  # to send the whole request; and the longest a write to a viewer may stall
POLL_S = 0.05  # how often the serving loop looks for shutdown()
MAX_CLIENTS = 16  # connections served at once: threads and file descriptors stay bounded on a Pi
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")  # what a browser on this machine sends as Host
_BUSY_BODY = b"busy: the fmnist preview has all the viewers it serves at once; try again in a few seconds\n"
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 5\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))
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


class PreviewHandler(BaseHTTPRequestHandler):
    """One viewer's request: the page, the stream, the status or the model's input image, within the limits."""

    preview: Preview  # set by _handler
    timeout: float = TIMEOUT_S  # on the socket (StreamRequestHandler.setup): an idle read or a stalled write fails
    late = False

    def log_message(self, *args: Any) -> None:  # keep the terminal for fmnist's own status line
        pass

    def setup(self) -> None:
        super().setup()
        self._deadline = threading.Timer(self.timeout, self._cut_off)  # the whole request, not each byte of it
        self._deadline.daemon = True
        self._deadline.start()

    def _cut_off(self) -> None:
        """The request did not arrive in time (a client sending a byte now and then): stop reading it."""
        self.late = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RD)

    def parse_request(self) -> bool:
        parsed = not self.late and super().parse_request()  # reads the headers; a cut-off line gets no 400
        self._deadline.cancel()
        return parsed and not self.late

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def _host_allowed(self) -> bool:
        allowed = getattr(self.server, "allowed_hosts", None)
        return allowed is None or (self.headers.get("Host") or "").strip().lower() in allowed

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not self._host_allowed():
            self.send_error(HTTPStatus.MISDIRECTED_REQUEST, explain="this preview answers only Host: "
                            "localhost, 127.0.0.1 or [::1] (a loopback bind refuses other names: DNS rebinding)")
        elif path == "/":
            self._send(page(self.preview.model), "text/html; charset=utf-8")
        elif path == "/status":
            self._send(dumps(self.preview.status()).encode(), "application/json")  # NaN as null
        elif path == "/seen.png" and self.preview.seen():
            self._send(self.preview.seen(), "image/png")
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
            while not self.preview.closed:
                seen, jpeg = self.preview.next_frame(seen)
                if not jpeg:
                    continue
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                 f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
        except OSError:
            pass  # the viewer went away, reset the connection or stopped reading for `timeout` seconds



def _handler(preview: Preview, seconds: float) -> type[BaseHTTPRequestHandler]:
    """The handler class for one preview: its Preview and its timeout."""
    return type("Handler", (PreviewHandler,), {"preview": preview, "timeout": seconds})


def parse_address(address: str) -> tuple[str, int]:
    """"8080" or "HOST:PORT" -> (host, port); the host defaults to 127.0.0.1 (this machine only). An IPv6
    host may be bracketed: [::1]:8080."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--serve takes PORT or HOST:PORT, got {address!r}")
    return host.removeprefix("[").removesuffix("]") or "127.0.0.1", int(port)


def loopback_hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host headers a loopback bind answers, with or without the port; None for any other bind (its names
    are the network's: fmnist cannot know them)."""
    try:
        loopback = host.lower() == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return None
    names = {*LOOPBACK_NAMES, f"[{host}]" if ":" in host else host.lower()}
    return frozenset(name for base in names for name in (base, f"{base}:{port}"))


def _refuse(request: socket.socket) -> None:
    """Over the cap: a 503 at once, from the accepting thread, with no thread and no wait for the client."""
    with contextlib.suppress(OSError):
        request.setblocking(False)
        request.send(BUSY)  # a fresh socket's send buffer holds it
        request.recv(65536)  # what the client sent already, so that closing does not reset the connection


class PreviewServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with a cap on concurrent connections, quiet about clients that go away, and the Host
    headers a loopback bind answers."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_clients: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.slots = threading.BoundedSemaphore(max_clients)
        super().__init__(address, handler)
        self.allowed_hosts = loopback_hosts(address[0], self.server_port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            _refuse(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # starts the connection's thread
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client's reset, broken pipe or timeout is the client's business: no traceback on fmnist's terminal.
        Anything else is a bug and keeps its traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def start(address: str, preview: Preview, timeout: float = TIMEOUT_S, max_clients: int = MAX_CLIENTS) -> PreviewServer:
    """Serve in a daemon thread. The server's real port is `server.server_port` (for port 0)."""
    host, port = parse_address(address)
    try:
        server = PreviewServer((host, port), _handler(preview, timeout), max_clients)
    except OSError as e:
        raise UsageError(f"--serve {host}:{port}: {e.strerror or e}; pick another port, e.g. --serve "
                         f"{host}:{port + 1 if port else 8081}") from e
    # shutdown() waits for the loop's next poll: every 50 ms, so `live` stops at once (the default is 0.5 s)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_S}, name="fmnist-serve",
                     daemon=True).start()
    return server
