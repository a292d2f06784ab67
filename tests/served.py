"""The HTTP app (fmnist.runtime.video.http) on 127.0.0.1 and a free port, as `fmnist serve` and `live --serve` run it,
for the tests that talk to it over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fmnist.runtime.video.http.app import build
from fmnist.runtime.video.http.limits import Limits, loopback_hosts
from fmnist.runtime.video.http.server import Running, bind, start
from fmnist.runtime.video.http.workers import Workers
from fmnist.runtime.video.preview import Preview


@dataclass
class Served:
    port: int
    running: Running

    def stop(self) -> None:
        self.running.stop()


def start_served(workers: Workers | None = None, preview: Preview | None = None, **limits: Any) -> Served:
    """The app serving `workers`' API and/or `preview`'s live routes; `limits` overrides Limits' fields."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    settings = Limits(**{"allowed_hosts": loopback_hosts("127.0.0.1", port), **limits})
    return Served(port, start(build(workers, preview, settings), sock, settings.timeout))


@contextmanager
def served(workers: Workers | None = None, preview: Preview | None = None, **limits: Any) -> Iterator[int]:
    """start_served for the block; yields the port."""
    server = start_served(workers, preview, **limits)
    try:
        yield server.port
    finally:
        server.stop()
