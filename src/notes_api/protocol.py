"""uvicorn's HTTP/1.1 protocols with limits on receiving a request: how long, and how large a head;
and with the access log written without the logging module's per-record cost (logging.AccessLog).

uvicorn closes a kept-alive connection left idle after an answer, but it sets no bound on how long
a client may take to send a request, and its httptools parser none on how large the request line
and headers may grow: a byte every few seconds holds a connection for ever (Slowloris), and an
unfinished 20 MiB header is held in memory whole. ASGI middleware cannot help, since the app is
only called once the headers are in; this is the HTTP protocol's job. So src/main.py names these
subclasses of uvicorn's protocols in `uvicorn.run(http=...)`, and each connection gets:

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
import functools
import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, cast

import h11
from uvicorn.config import Config
from uvicorn.protocols.http import h11_impl, httptools_impl
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.server import ServerState

from notes_api.logging import access_log_for

logger = logging.getLogger(__name__)

Parser = Literal["httptools", "h11"]


@dataclass(frozen=True)
class RequestLimits:
    timeout: float  # seconds for a request's line, headers and body to arrive
    max_head_size: int  # bytes of request line and headers
    # Seconds an idle kept-alive connection stays open once shutdown begins (see `shutdown`).
    drain: float = 0.0


def http_protocol(parser: Parser, limits: RequestLimits) -> type[asyncio.Protocol]:
    """What to pass to `uvicorn.run(http=...)`: the parser's protocol, with these limits."""
    protocol = HttpToolsProtocol if parser == "httptools" else H11Protocol
    # uvicorn calls it with config=, server_state=, app_state= for each connection, like a class.
    # A partial of a module-level class pickles, so it reaches worker processes too (WORKERS).
    return cast("type[asyncio.Protocol]", functools.partial(protocol, limits=limits))


class _RequestLimits(asyncio.Protocol):
    """The deadline and the head limit, for either parser; each subclass says when a head and a
    request have been received (`_head_received`, `_request_received`)."""

    # Set by uvicorn's protocol.
    access_log: bool
    access_logger: logging.Logger
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    flow: FlowControl
    server_state: ServerState
    client: tuple[str, int] | None
    cycle: Any  # the request's RequestResponseCycle, of either parser

    limits: RequestLimits
    receiving_head = True  # the line and headers of a request are (or will be) coming
    head_size = 0  # bytes of them received so far
    # When the request being received began (its first byte, or the connection's opening); None
    # between requests. One timer per connection checks it, rather than one armed and cancelled
    # per request: on uvloop that pair cost about 2 µs, more than all the rest of this class.
    request_started: float | None = None
    timer: asyncio.TimerHandle | None = None
    draining = False  # shutdown has begun: a request now is the connection's last

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: RequestLimits,
    ) -> None:
        # uvicorn's protocol (next in the subclass's MRO) takes the first four.
        super().__init__(config, server_state, app_state, _loop)  # type: ignore[call-arg]
        self.limits = limits
        # The access log's line, written without the logging module's cost where it may be
        # (logging.AccessLog); uvicorn hands the logger to each request's cycle.
        if self.access_log and (fast := access_log_for(self.access_logger)) is not None:
            self.access_logger = fast  # type: ignore[assignment]  # uvicorn only calls its info()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
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
            logger.warning("%s: request line and headers over %d bytes: 431", self._peer(), limit)
            detail = f"The request line and headers are larger than {limit} bytes"
            self._answer_and_close(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, detail)
            return
        self.data_received(data[room:])

    def _head_received(self) -> None:
        self.receiving_head = False
        self.head_size = 0

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown, which closes an idle kept-alive connection at once: but for
        `limits.drain` seconds first, if they are set.

        A load balancer may be sending the next request on that connection at that very moment:
        it gets no answer, and passes the failure on to its client. Meanwhile the listening
        socket is closed, its health checks fail, and it stops using this instance: a request
        that still comes on the connection is answered, and is its last (the connection closes
        after it).
        """
        # `super()`: uvicorn's protocol, next in the subclass's MRO.
        if self.limits.drain and (self.cycle is None or self.cycle.response_complete):
            self.draining = True
            self.loop.call_later(self.limits.drain, super().shutdown)  # type: ignore[misc]
        else:
            super().shutdown()  # type: ignore[misc]

    def _last_request_if_draining(self) -> None:
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False

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
        if self.flow.read_paused:
            # uvicorn stopped reading (this request waits behind the answer to the one before, or
            # the app has not read the body so far): the wait is the server's, not the client's.
            self.request_started = self.loop.time()
        left = self.request_started + timeout - self.loop.time()
        if left > 0:
            self._check_deadline_in(left)
            return
        if self.receiving_head and self.head_size == 0:
            self.transport.close()  # nothing of a request came: as uvicorn closes an idle one
            return
        logger.warning("%s: request not received within %g s: 408", self._peer(), timeout)
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            detail = f"The request was not received within {timeout:g} s"
            self._answer_and_close(HTTPStatus.REQUEST_TIMEOUT, detail)
        else:
            self.transport.close()  # an answer has begun: it cannot be replaced

    def _answer_and_close(self, status: HTTPStatus, detail: str) -> None:
        body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
        lines = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: application/json",
            b"content-length: %d" % len(body),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"


class HttpToolsProtocol(_RequestLimits, httptools_impl.HttpToolsProtocol):
    """uvicorn's httptools protocol (the default parser), with `RequestLimits`."""

    def on_headers_complete(self) -> None:
        self._head_received()
        super().on_headers_complete()
        self._last_request_if_draining()

    def on_message_complete(self) -> None:
        self._request_received()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop_checking()  # the WebSocket protocol takes the connection over
        super().handle_websocket_upgrade()


class H11Protocol(_RequestLimits, h11_impl.H11Protocol):
    """uvicorn's h11 protocol (pure Python), with `RequestLimits`.

    h11 keeps its own limit on an unfinished head (`h11_max_incomplete_event_size`, which
    src/main.py sets to the same size); the one here also catches a head that arrives whole.
    """

    def handle_events(self) -> None:
        super().handle_events()
        # h11 tells where the request stands by the client's state once its events are handled.
        state = self.conn.their_state
        if state is h11.IDLE:
            return  # its head is (or will be) coming
        if self.receiving_head:
            self._head_received()
            self._last_request_if_draining()
        if state is not h11.SEND_BODY:
            self._request_received()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._stop_checking()  # the WebSocket protocol takes the connection over
        super().handle_websocket_upgrade(event)
