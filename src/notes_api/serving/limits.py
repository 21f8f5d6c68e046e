"""Limits on receiving a request, kept by the HTTP protocol: how long, and how large a head.

uvicorn closes a kept-alive connection left idle after an answer, but it sets no bound on how long
a client may take to send a request, and its httptools parser none on how large the request line
and headers may grow: a byte every few seconds holds a connection for ever (Slowloris), and an
unfinished 20 MiB header is held in memory whole. ASGI middleware cannot help, since the app is
only called once the headers are in; this is the HTTP protocol's job (protocol.py), and each
connection gets:

- A deadline: a request's line, headers and body must all arrive within `timeout` seconds of its
  first byte (of the connection's opening, for the first request). Past it, the connection is
  closed, with a 408 if part of a request came and no answer has started; a connection that sent
  nothing is closed quietly, as uvicorn closes an idle one. The clock stops once the request is
  in: how long the answer takes (the streamed export) is not its concern.
- A head limit: the parser is fed at most `max_head_size` bytes of request line and headers. A
  head that has not ended by then is answered 431 and the connection closed, the rest unread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from notes_api.errors import Failure, head_too_large, request_timeout
from notes_api.observability import metrics
from notes_api.observability.requests import HEADER, new_request_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestLimits:
    timeout: float  # seconds for a request's line, headers and body to arrive
    max_head_size: int  # bytes of request line and headers
    # Seconds an idle kept-alive connection stays open once shutdown begins (protocol.py).
    drain: float = 0.0


class ReceivingLimits(asyncio.Protocol):
    """The deadline and the head limit, for an HTTP protocol that says when a head and a request
    have been received (`_head_received`, `_request_received`), and answers what only it knows
    (`_reading_paused`, `_answer_begun`, `_answer_and_close`, `_peer`)."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    limits: RequestLimits
    receiving_head = True  # the line and headers of a request are (or will be) coming
    head_size = 0  # bytes of them received so far
    # When the request being received began (its first byte, or the connection's opening); None
    # between requests. One timer per connection checks it, rather than one armed and cancelled
    # per request: on uvloop that pair cost more than all the rest of this class.
    request_started: float | None = None
    timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.request_started = self.loop.time()
        self._check_deadline_in(self.limits.timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_checking()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.receiving_head:
            if self.request_started is None:
                self.request_started = self.loop.time()  # the next request on a kept-alive one
            room = self.limits.max_head_size - self.head_size
            if len(data) > room:
                self._receive_past_limit(data, room)
                return
            self.head_size += len(data)
        super().data_received(data)

    def _receive_past_limit(self, data: bytes, room: int) -> None:
        # Feed the parser only what the limit leaves room for. If the head ends in it, the rest
        # (a body, or the next request) is received as usual; if not, the head is too large.
        if room:
            self.head_size += room
            super().data_received(data[:room])
        if self.transport.is_closing():
            return  # the parser found the request malformed, and answered 400
        if self.receiving_head and self.head_size >= self.limits.max_head_size:
            limit = self.limits.max_head_size
            message = "%s: request line and headers over %d bytes: 431"
            self._refuse(head_too_large(limit), message, self._peer(), limit)
            return
        self.data_received(data[room:])

    def _head_received(self) -> None:
        self.receiving_head = False
        self.head_size = 0

    def _request_received(self) -> None:
        self.request_started = None
        self.receiving_head = True  # the next request's

    def _check_deadline_in(self, seconds: float) -> None:
        self.timer = self.loop.call_later(seconds, self._check_deadline)

    def _stop_checking(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _check_deadline(self) -> None:
        self.timer = None
        if self.transport.is_closing():
            return
        timeout = self.limits.timeout
        if self.request_started is None:
            self._check_deadline_in(timeout)  # between requests: uvicorn's keep-alive applies
            return
        if self._reading_paused():
            # The server stopped reading (this request waits behind the answer to the one before,
            # or the app has not read the body so far): the wait is the server's, not the client's.
            self.request_started = self.loop.time()
        left = self.request_started + timeout - self.loop.time()
        if left > 0:
            self._check_deadline_in(left)
            return
        if self.receiving_head and self.head_size == 0:
            self.transport.close()  # nothing of a request came: as uvicorn closes an idle one
            return
        message = "%s: request not received within %g s: 408"
        if self._answer_begun():
            logger.warning(message, self._peer(), timeout)
            self.transport.close()  # an answer has begun: it cannot be replaced
        else:
            self._refuse(request_timeout(timeout), message, self._peer(), timeout)

    def _refuse(self, failure: Failure, message: str, *args: object) -> None:
        """Log why, then answer `failure` and close. With a request ID of its own, in the line and
        the answer: the app never saw the request, whose own X-Request-ID may not have come."""
        request_id = new_request_id()
        logger.warning(message, *args, extra={"request_id": request_id})
        status = str(failure.status)
        metrics.REQUESTS.labels(metrics.UNKNOWN_METHOD, metrics.UNMATCHED, status).inc()
        self._answer_and_close(failure, [(HEADER, request_id.encode())])

    # What the protocol knows.

    def _reading_paused(self) -> bool:
        raise NotImplementedError

    def _answer_begun(self) -> bool:
        """An answer to the request being received has started, and is not complete."""
        raise NotImplementedError

    def _answer_and_close(self, failure: Failure, headers: list[tuple[bytes, bytes]]) -> None:
        raise NotImplementedError

    def _peer(self) -> str:
        raise NotImplementedError
