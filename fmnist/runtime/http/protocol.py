"""uvicorn's HTTP/1.1 protocol (h11) with two deadlines uvicorn does not keep.

- A request's head: uvicorn closes a keep-alive connection that stays idle, but not one that never sends a request,
  nor one that sends its headers a byte now and then: each would hold a connection for ever (a port scanner, a
  preconnect, a slow-loris client). Here a connection must deliver a request's line and headers within `timeout`
  seconds of opening or of its previous answer, or it is closed; and so is one whose unread body (after a 413) is
  still arriving by then.
- A write: a client that stops reading (a stalled viewer of /stream) fills the socket's buffer and uvicorn waits
  for it for ever. Here a write that has waited `timeout` seconds for the client to read aborts the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from fmnist.runtime.http.limits import TIMEOUT_S


class DeadlineProtocol(H11Protocol):
    timeout = TIMEOUT_S  # a subclass per server sets its own (server.protocol_for)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._stall: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request at once
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._deadline, self._stall):
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
