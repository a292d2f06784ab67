"""The socket bound (a taken port is one usage error, before anything else starts), uvicorn serving the app on it
in a thread of its own, and its stop. uvicorn's own limits hold: connections open at once (limit_concurrency),
idle keep-alive ones closed, a bound on the headers' size; its log and python-multipart's are silent (the app
prints a traceback for its own bugs only, fmnist.runtime.video.http.app), so a client's mistakes or resets never reach
fmnist's terminal."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from fmnist.core.errors import UsageError
from fmnist.runtime.video.http.limits import MAX_CONNECTIONS, App
from fmnist.runtime.video.http.protocol import DeadlineProtocol
from fmnist.runtime.video.http.request_head import MAX_HEAD_BYTES

START_S = 10.0  # for uvicorn to start listening
STOP_S = 3.0  # for open requests to finish when it stops (a stream ends as soon as its preview closes)
SILENT = logging.CRITICAL + 1  # uvicorn's log: nothing


def parse_address(address: str) -> tuple[str, int]:
    """"8080" or "HOST:PORT" -> (host, port); the host defaults to 127.0.0.1 (this machine only). An IPv6
    host may be bracketed: [::1]:8080."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--serve takes PORT or HOST:PORT, got {address!r}")
    return host.removeprefix("[").removesuffix("]") or "127.0.0.1", int(port)


def bind(host: str, port: int, serve_option: bool = False) -> socket.socket:
    """A socket bound to (host, port), not yet listening; a UsageError that gives the address as the user did
    (live's --serve HOST:PORT, or serve's --host and --port) and a free port to try."""

    def given(p: int) -> str:
        return f"--serve {host}:{p}" if serve_option else f"--host {host} --port {p}"

    if not host.strip():  # the OS would bind every network, with no Host check: not what an empty value means
        raise UsageError(f"{'--serve' if serve_option else '--host'} {host!r}: the host is empty; give 127.0.0.1 "
                         "(this machine only) or 0.0.0.0 (every network)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say so, and an answer's
    # head and body, written apart, would otherwise wait 40 ms for a delayed ACK on a keep-alive connection
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OSError, OverflowError, UnicodeError) as e:  # taken, not this machine's, a name no resolver takes
        sock.close()
        why = getattr(e, "strerror", None) or e
        if isinstance(e, OSError) and e.errno == errno.EADDRINUSE:
            raise UsageError(f"{given(port)}: {why}; pick another port, e.g. {given(port + 1 if port else 8081)}"
                             ) from e
        raise UsageError(f"{given(port)}: {why}; give an address of this machine: 127.0.0.1 (this machine only) or "
                         "0.0.0.0 (every network)") from e
    return sock


WILDCARDS = ("0.0.0.0", "::")  # every network


def url_of(sock: socket.socket) -> str:
    """The address to open on this machine: a bind to every network is reached at the loopback one (a browser may
    refuse http://0.0.0.0/)."""
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"  # an IPv6 address in a URL


def network_note(sock: socket.socket) -> str | None:
    """For a bind to every network, how another machine reaches it; None otherwise."""
    host, port = sock.getsockname()[:2]
    if host not in WILDCARDS:
        return None
    return f"on every network ({host}): from another machine, this machine's address and port {port}"


@dataclass
class Running:
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join()


def protocol_for(timeout: float) -> type[DeadlineProtocol]:
    return type("Protocol", (DeadlineProtocol,), {"timeout": timeout})


def start(app: App, sock: socket.socket, timeout: float) -> Running:
    """uvicorn serving `app` on the bound `sock`, in a daemon thread; returns once it listens."""
    logging.getLogger("python_multipart").setLevel(SILENT)  # it warns of a client's malformed form on stderr
    config = uvicorn.Config(app, http=protocol_for(timeout), lifespan="off", log_config=None,
                            log_level=SILENT, access_log=False, limit_concurrency=MAX_CONNECTIONS,
                            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                            timeout_graceful_shutdown=int(STOP_S))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fmnist-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        Running(server, thread).stop()
        raise UsageError(f"the HTTP server did not start on {url_of(sock)} within {START_S:.0f} s")
    return Running(server, thread)


@contextmanager
def serving(app: App, sock: socket.socket, timeout: float) -> Iterator[Running]:
    """The app served on `sock` for the block; stopped (and the socket closed) after it, however it ends."""
    try:
        running = start(app, sock, timeout)
    except BaseException:
        sock.close()
        raise
    try:
        yield running
    finally:
        running.stop()
        sock.close()
