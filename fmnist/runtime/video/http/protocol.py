"""uvicorn's HTTP/1.1 protocol (h11) with two deadlines uvicorn does not keep, a gentle close, and uvicorn's own
refusals answered as the app's are (JSON {"error": ...}): 431 for a request's line and headers over their limit,
400 for what h11 cannot parse. A request's head reaches the app within its limit and in the origin-form
(request_head).

- A request's head: uvicorn closes a keep-alive connection that stays idle, but not one that never sends a request,
  nor one that sends its headers a byte now and then: each would hold a connection for ever (a port scanner, a
  preconnect, a slow-loris client). Here a connection must deliver a request's line and headers within `timeout`
  seconds of opening or of its previous answer, or it is closed.
- A gentle close: an answer given before the request's body has all come (a 413 from the body's Content-Length, a
  408), or to a request h11 refused (a 431 while its headers still come), is sent, then the connection is shut for
  writing and the rest of the request read and dropped until the client closes, for `timeout` seconds at most.
  Closed at once, the kernel would answer the body's next bytes with a reset, and a client that sends its whole
  body before it reads (Python's urllib, without Expect: 100-continue) would see "Connection reset by peer"
  instead of the answer.
- A write: a client that stops reading (a stalled viewer of /stream) fills the socket's buffer and uvicorn waits
  for it for ever. Here a write that has waited `timeout` seconds for the client to read aborts the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from fmnist.runtime.video.http.limits import TIMEOUT_S, UNCAPPED, App, Receive, Scope, Send, answer, busy
from fmnist.runtime.video.http.replies import refusal
from fmnist.runtime.video.http.request_head import MAX_HEAD_BYTES, as_served

MALFORMED = ("the request is not valid HTTP/1.1 (its line or headers are malformed: a bad or repeated "
             "Content-Length, bytes other than ASCII or a malformed URL in the request line, a bad chunk); send it "
             "with an HTTP client")
TOO_LARGE = (f"the request's line and headers are over {MAX_HEAD_BYTES // 1024} KB; send shorter headers (fewer or "
             "smaller cookies) or put the data in the body")
REFUSALS = {400: (b"Bad Request", MALFORMED), 431: (b"Request Header Fields Too Large", TOO_LARGE)}


class DeadlineProtocol(H11Protocol):
    timeout = TIMEOUT_S  # a subclass per server sets its own (server.protocol_for)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_connections, self.limit_concurrency = self.limit_concurrency, None  # checked by _capped instead
        self.app = self._capped(self.app)
        self._refused = 400  # the status of the last request refused as it was read: REFUSALS
        self._h11_next_event, self.conn.next_event = self.conn.next_event, self._next_event

    def _next_event(self) -> Any:
        """h11's next event, a request as the app is served it (request_head.as_served); a refusal's status kept:
        431 only for a head (h11 also advises it for a chunk's line past its buffer limit)."""
        heading = self.conn.their_state is h11.IDLE
        try:
            event = self._h11_next_event()
            return as_served(event) if isinstance(event, h11.Request) else event
        except h11.RemoteProtocolError as e:
            self._refused = 431 if heading and e.error_status_hint == 431 else 400
            raise

    def _capped(self, app: App) -> App:
        """The app, or a JSON 503 beyond the connections (or requests under way) allowed at once."""

        async def capped(scope: Scope, receive: Receive, send: Send) -> None:
            over = self.max_connections is not None and max(len(self.connections), len(self.tasks)) > \
                self.max_connections
            if over and scope["type"] == "http" and scope["path"] not in UNCAPPED:
                await answer(send, busy(f"{self.max_connections} connections are open at once; try again in a few "
                                        "seconds", close=True))
                return
            await app(scope, receive, send)

        return capped

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request refused as it was read, as JSON (REFUSALS). A request the app was already
        given (its body was malformed) is ended for the app too: its own answer would follow this one."""
        reason, message = REFUSALS[self._refused]
        body = refusal(self._refused, message)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=self._refused, headers=headers, reason=reason), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's receive() says http.disconnect, its send() is dropped
            self.cycle.message_event.set()
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._stall: asyncio.TimerHandle | None = None
        self._draining: asyncio.TimerHandle | None = None
        self._half_closed = False  # the client shut its side after a whole request (eof_received)
        self._socket = transport
        super().connection_made(Gentle(transport, self))  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._draining is None:  # else: the rest of a refused body, dropped
            super().data_received(data)

    def close_gently(self) -> None:
        """Closed, after the client has read the answer if it is still sending its body (see above)."""
        transport = self._socket
        if self._draining is not None or transport.is_closing():
            return
        if self.conn.their_state not in (h11.SEND_BODY, h11.ERROR) or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()  # after the answer: the client reads it, then the end
        transport.resume_reading()
        self._draining = self.loop.call_later(self.timeout, transport.close)  # or at the client's end (EOF)

    def eof_received(self) -> bool:
        """A client that shuts its side after a whole request (`nc -N`, a socat script) still gets the answer: the
        connection stays open for writing until it is sent, then closes. Otherwise (no request, or half a body)
        it closes now, as uvicorn's does."""
        self._half_closed = self.cycle is not None and not self.cycle.response_complete and \
            self.conn.their_state is h11.DONE
        return self._half_closed

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request at once
        if self._half_closed:
            self.transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._deadline, self._stall, self._draining):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        """The client is not reading what is sent: it has `timeout` seconds to start again."""
        super().pause_writing()
        if self._stall is None:
            self._stall = self.loop.call_later(self.timeout, self.transport.abort)

    def resume_writing(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        super().resume_writing()

    def _arm(self) -> None:
        """From now, the next request's head must come within `timeout`; a request under way is not timed."""
        if self._deadline is not None:
            self._deadline.cancel()
        waiting = self.cycle  # None, or the request just answered
        if waiting is None or waiting.response_complete:
            self._deadline = self.loop.call_later(self.timeout, self._expire, waiting)

    def _expire(self, waiting: Any) -> None:
        if self.cycle is waiting and not self.transport.is_closing():  # no new request since: close it
            self.transport.close()


class Gentle:
    """The connection's transport as uvicorn sees it, but for close(): DeadlineProtocol.close_gently."""

    def __init__(self, transport: asyncio.Transport, protocol: DeadlineProtocol) -> None:
        self._transport, self._protocol = transport, protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        self._protocol.close_gently()

    def is_closing(self) -> bool:
        return self._protocol._draining is not None or self._transport.is_closing()
