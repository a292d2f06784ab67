"""What every request is held to, before the app sees it, so that a browser left open, a port scanner, a hostile
page or a large upload never takes the server (or `live`) down:

- the Host check: on a loopback bind, a request whose Host header is not a loopback name is refused (421), so a web
  page cannot reach the camera or the API through DNS rebinding;
- the cap on requests served at once (MAX_REQUESTS): a request holds one of these slots only while fmnist works
  for it, from its body's last byte (at once for a request with no body) to its answer, so that clients sending
  slowly hold none; the next ones get a 503 at once, with Retry-After. /health is never capped (it is answered from
  memory), and the MJPEG streams, which last as long as they are watched, have their own cap (MAX_STREAMS);
- the body: a Content-Length over MAX_BODY_BYTES is refused (413) before a byte of it is read, a body that grows
  past it (chunked) as soon as it does, and one that has not arrived whole within BODY_TIMEOUT_S gets a 408;
- the bodies held at once: a request holds its body's bytes (its Content-Length from the start, a chunked body's
  as they come) until its answer, and a request that would take the bodies held past MAX_HELD_BYTES gets a 503
  at once (before its body is read), so that 64 connections sending 20 MB each cannot take 1.3 GB of a Pi.

The request's head and each write have their own deadline (fmnist.runtime.video.http.protocol), and uvicorn bounds the
connections open at once (MAX_CONNECTIONS) and closes idle keep-alive ones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import anyio

from fmnist.runtime.video.http.replies import Refused, refusal

MAX_BODY_BYTES = 20_000_000  # an upload: a 100 MP JPEG is a few tens of MB, a phone's photo 2 to 8
BODY_TIMEOUT_S = 60.0  # for the whole body: 20 MB over a 3 Mbit/s link
TIMEOUT_S = 10.0  # for a request's line and headers (from the connection or the previous answer), and for a write
MAX_HELD_BYTES = 100_000_000  # request bodies held in memory at once: five at the limit, or some 25 phone photos
MAX_REQUESTS = 16  # served at once: threads, memory and file descriptors stay bounded on a Pi
MAX_STREAMS = 8  # /stream viewers at once: each holds a thread while it waits for the next frame
UNCAPPED = ("/health",)  # answered from memory: a monitor's check is never refused as busy
STREAMS = ("/stream",)  # capped by MAX_STREAMS, not MAX_REQUESTS
MAX_CONNECTIONS = 64  # open at once (uvicorn's limit_concurrency): idle keep-alive ones are closed after 5 s
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")  # what a browser on this machine sends as Host
RETRY_AFTER_S = 5

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def loopback_hosts(host: str, port: int) -> frozenset[str] | None:
    """The Host headers a loopback bind answers, with or without the port; None for any other bind (its names
    are the network's: fmnist cannot know them)."""
    if not (host.lower() == "localhost" or _is_loopback(host)):
        return None
    names = {*LOOPBACK_NAMES, f"[{host}]" if ":" in host else host.lower()}
    return frozenset(name for base in names for name in (base, f"{base}:{port}"))


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, and 127.x written as IPv6 (::ffff:127.0.0.1), which Python 3.11 does not count."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


@dataclass(frozen=True)
class Limits:
    max_body: int = MAX_BODY_BYTES
    max_held: int = MAX_HELD_BYTES
    body_seconds: float = BODY_TIMEOUT_S
    timeout: float = TIMEOUT_S  # fmnist.runtime.video.http.protocol: the head's deadline, a stalled write's
    max_requests: int = MAX_REQUESTS
    max_streams: int = MAX_STREAMS
    allowed_hosts: frozenset[str] | None = None  # None: any Host (a LAN bind)


def _header(scope: Scope, name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in scope["headers"] if key == name), None)


class Guard:
    """ASGI middleware: the Host check, the caps on requests and streams at once and the body's size and time (see
    above)."""

    def __init__(self, app: App, limits: Limits) -> None:
        self.app, self.limits = app, limits
        self.requests = Budget(limits.max_requests, lambda _: f"fmnist serves {limits.max_requests} requests at once; "
                               "try again in a few seconds")
        self.streams = Budget(limits.max_streams, lambda _: f"{limits.max_streams} streams are watched at once; close "
                              "a viewer, or try again later")
        self.bodies = Budget(limits.max_held, lambda total: f"uploads of {total:,} bytes would be held at once, over "
                             f"{limits.max_held:,}; try again in a few seconds", close=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self._refusal(scope)
        if refused is not None:
            await answer(send, refused)
        elif scope["path"] in UNCAPPED:
            await self.app(scope, receive, send)
        elif scope["path"] in STREAMS:
            await self._watched(scope, receive, send)
        else:
            await self._slotted(scope, receive, send)

    async def _watched(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, holding a stream's place while it is watched."""
        place = Claim(self.streams)
        try:
            place.hold(1)
        except Refused as refused:
            await answer(send, refused)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            place.release()

    async def _slotted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, holding a request's place from the body's end (at once without a body) to the answer, and its
        body's bytes (its Content-Length at once) until the answer."""
        place, body = Claim(self.requests), Claim(self.bodies)
        try:
            if not _has_body(scope):
                place.hold(1)
            length = _header(scope, b"content-length")
            if length is not None and length.strip().isdigit():
                body.hold(int(length))
        except Refused as refused:
            await answer(send, refused)
            return
        try:
            await self.app(scope, self._bounded(receive, place, body), send)
        finally:
            place.release()
            body.release()

    def _refusal(self, scope: Scope) -> Refused | None:
        allowed = self.limits.allowed_hosts
        if allowed is not None and (_header(scope, b"host") or "").strip().lower() not in allowed:
            return Refused(421, "this server answers only Host: localhost, 127.0.0.1 or [::1] (a loopback bind "
                                "refuses other names: DNS rebinding); use one of those in the URL")
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limits.max_body:
            return too_large(int(length), self.limits.max_body)
        return None

    def _bounded(self, receive: Receive, place: Claim, body: Claim) -> Receive:
        """`receive`, with the body counted, held and timed until it has all come; then the place is taken."""
        received, whole = 0, False
        deadline = anyio.current_time() + self.limits.body_seconds

        async def bounded() -> Message:
            nonlocal received, whole
            if whole:  # after the body: only a disconnect comes, whenever the client goes
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    message = await receive()
            except TimeoutError:
                raise Refused(408, f"the body did not arrive within {self.limits.body_seconds:g} s; send it "
                                   "faster, or a smaller image") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                whole = not message.get("more_body", False)
                if received > self.limits.max_body:
                    raise too_large(received, self.limits.max_body, so_far=not whole)
                body.hold(received)
                if whole:
                    place.hold(1)
            return message

        return bounded


class Budget:
    """What the requests under way hold at once (places among the requests served, streams watched, body bytes)
    against its limit; `full` says why a request past it is refused, and `close` closes its connection (its body
    is not read)."""

    def __init__(self, limit: int, full: Callable[[int], str], close: bool = False) -> None:
        self.limit, self.full, self.close, self.used = limit, full, close, 0  # one event loop: no lock needed


class Claim:
    """One request's share of a Budget: grown as the request needs more, given back once."""

    def __init__(self, budget: Budget) -> None:
        self.budget, self.amount = budget, 0

    def hold(self, amount: int) -> None:
        """`amount` held from now (at least), or a 503 Refused when the budget would pass its limit."""
        more = amount - self.amount
        if more <= 0:
            return
        total = self.budget.used + more
        if total > self.budget.limit:
            raise busy(self.budget.full(total), close=self.budget.close)
        self.budget.used, self.amount = total, amount

    def release(self) -> None:
        self.budget.used -= self.amount
        self.amount = 0


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return _header(scope, b"transfer-encoding") is not None or (length is not None and length.strip() not in ("", "0"))


def busy(why: str, close: bool = False) -> Refused:
    """A 503 with Retry-After; `close`: the connection is closed after it."""
    return Refused(503, f"busy: {why}", headers={"Retry-After": str(RETRY_AFTER_S), **({"Connection": "close"}
                                                                                      if close else {})})


def too_large(size: int, limit: int, so_far: bool = False) -> Refused:
    return Refused(413, f"the body is {'over ' if so_far else ''}{size:,} bytes, over the {limit:,}-byte limit; "
                        "send a smaller image (downscale it), or fewer files at once",
                   headers={"Connection": "close"})  # the rest of the body is dropped, then the connection closed


async def answer(send: Send, refused: Refused) -> None:
    """A refusal answered below the app, before the body is read."""
    body = refusal(refused.status, refused.message, refused.headers)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(key.lower().encode(), value.encode()) for key, value in refused.headers.items()]
    await send({"type": "http.response.start", "status": refused.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
