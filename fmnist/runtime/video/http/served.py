"""What the CLI runs: `fmnist serve` (the classify API until Ctrl-C, SIGTERM or SIGHUP; with a source, the live
loop beside it on the same app, and the API serving on once the source has ended) and `fmnist live --serve` (the
live loop, its preview served, until the source ends).

The address is bound first, so a taken port is refused before the model or the camera opens; the server stops,
and its socket closes, however the run ends."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fmnist.core.errors import SourceError, escaped
from fmnist.core.signals import Stopped, hold, stop_as_interrupt
from fmnist.runtime.shipped import resolve
from fmnist.runtime.video.http import app as http_app
from fmnist.runtime.video.http.limits import Guard, Limits, loopback_hosts
from fmnist.runtime.video.http.muted import keep_python_stderr
from fmnist.runtime.video.http.server import bind, network_note, serving, url_of
from fmnist.runtime.video.http.workers import Workers
from fmnist.runtime.video.live import LiveConfig, Summary
from fmnist.runtime.video.live import run as run_live
from fmnist.runtime.video.preview import Preview
from fmnist.runtime.video.step import FrameResult

Say = Callable[[str], None]


@dataclass(frozen=True)
class Address:
    host: str = "127.0.0.1"
    port: int = 8000
    option: str = "--port"  # how the user gave it: --serve HOST:PORT (live), or --host HOST --port PORT (serve)


@dataclass(frozen=True)
class Api:
    """The classify API's settings: `fmnist serve`'s --model, --threads and --threshold."""

    model: str | Path | None = None
    threads: int = 0  # workers, one onnxruntime session of one thread each (0: one per core)
    threshold: float | None = None


def _opened(address: Address, api: Api | None) -> tuple[socket.socket, Workers | None]:
    """The address bound, then the model opened once per worker (if an API is served); the socket is closed if
    the model cannot be opened."""
    sock = bind(address.host, address.port, address.option == "--serve")
    if api:
        keep_python_stderr()  # uploads' decodes mute fd 2: fmnist's own lines go on
    try:
        return sock, Workers(api.model, api.threads, api.threshold) if api else None
    except BaseException:
        sock.close()
        raise


def _app(workers: Workers | None, preview: Preview | None, address: Address, sock: socket.socket) -> Guard:
    return http_app.build(workers, preview, Limits(allowed_hosts=loopback_hosts(address.host, sock.getsockname()[1])))


def started(workers: Workers, url: str) -> str:
    return (f"serving {workers.path.name} on {url} ({workers.count} worker{'s' if workers.count > 1 else ''}): "
            f"POST {url}classify, the upload page at {url}, the API at {url}openapi.json")


def serve_api(api: Api, address: Address, say: Say) -> str:
    """The classify API until a stop signal or Ctrl-C; returns what stopped it ("Ctrl-C", "SIGTERM")."""
    sock, workers = _opened(address, api)
    assert workers is not None
    app = _app(workers, None, address, sock)
    with stop_as_interrupt(), serving(app, sock, app.limits.timeout):
        for line in [workers.note, started(workers, url_of(sock)), network_note(sock)]:
            if line:
                say(line)  # once it answers: a caller may connect as soon as it reads the address
        return _until_stopped()


def _until_stopped() -> str:
    """Wait for a stop signal or Ctrl-C (under stop_as_interrupt); what it was ("Ctrl-C", "SIGTERM")."""
    try:
        threading.Event().wait()  # until a signal's KeyboardInterrupt
    except KeyboardInterrupt as e:
        hold()  # the server's stop runs whole
        return e.args[0] if isinstance(e, Stopped) else "Ctrl-C"
    return ""  # not reached: only an interrupt ends the wait


def serve_live(cfg: LiveConfig, address: Address, api: Api | None = None,
               emit: Callable[[FrameResult], None] | None = None, say: Say | None = None) -> Summary:
    """The live loop with its preview served (and the classify API beside it, given `api`), until the loop ends.
    The API is announced once the source has opened (its first line), so a source that cannot open is the only
    error said."""
    model = resolve(cfg.model).name
    sock, workers = _opened(address, api)
    url = url_of(sock)
    preview = Preview(model, f"{url}live" if workers else url)
    app = _app(workers, preview, address, sock)
    announced = [line for line in [network_note(sock), started(workers, url) if workers else None] if line]

    def on_start(line: str) -> None:
        if say:
            while announced:
                say(announced.pop())
            say(line)

    with serving(app, sock, app.limits.timeout):
        try:
            summary = run_live(cfg, emit, on_start=on_start, preview=preview)
        except SourceError as e:  # a source that opened, then failed at its first frame: the API serves on
            if workers is None or announced:  # no API, or the source never opened: that is the only error said
                raise
            summary, ended = Summary(), f"error: {escaped(e)}; the source has ended"
        else:
            if workers is None or summary.interrupted:
                return summary  # live --serve: its command says the summary, then the source's error if any
            failed = f"; error: {escaped(summary.source_error)}" if summary.source_error else ""
            summary.source_error = ""  # said here: the API serves on
            ended = f"{summary.text()}{failed}; the source has ended"
        if say:  # the source ended on its own: the API serves on
            say(f"{ended}, the classify API serves on at {url} until Ctrl-C or SIGTERM")
        with stop_as_interrupt():
            summary.stopped_by = _until_stopped()  # not `interrupted`: the loop had ended
        return summary
