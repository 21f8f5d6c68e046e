"""uvicorn's HTTP/1.1 protocols, with the request limits (limits.py), a draining shutdown, and the
access log written without the logging module's per-record cost (logs.AccessLog).

src/main.py names these subclasses of uvicorn's protocols in `uvicorn.run(http=...)`. They are
every reach into uvicorn's private parts, each tested by name in
tests/serving/test_uvicorn_internals.py (the versions tried are pyproject.toml's bounds):

- the classes `httptools_impl.HttpToolsProtocol` and `h11_impl.H11Protocol`, made by uvicorn for
  each connection with `config`, `server_state`, `app_state` (and `_loop`);
- their attributes `loop`, `transport`, `client`, `flow.read_paused`, `server_state.
  default_headers`, `access_log`, `access_logger` (uvicorn calls only its `info`), `cycle`,
  the request's cycle, with `response_started`, `response_complete`, `keep_alive` and
  `default_headers`, and the concurrency limit's `limit_concurrency`, `connections`, `tasks`;
- their methods `shutdown()`; httptools' `on_headers_complete()`, `on_message_complete()`,
  `handle_websocket_upgrade()`; h11's `handle_events()`, `conn.their_state` and
  `handle_websocket_upgrade(event)`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Literal, cast

import h11
from uvicorn.config import Config
from uvicorn.protocols.http import h11_impl, httptools_impl
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.server import ServerState

from notes_api.errors import RETRY_AFTER_SECONDS, Failure
from notes_api.observability import metrics
from notes_api.observability.requests import CURRENT, HEADER, Serving, new_request_id
from notes_api.serving.limits import ReceivingLimits, RequestLimits
from notes_api.serving.logs import access_log_for

Parser = Literal["httptools", "h11"]


def http_protocol(parser: Parser, limits: RequestLimits) -> type[asyncio.Protocol]:
    """What to pass to `uvicorn.run(http=...)`: the parser's protocol, with these limits."""
    protocol = HttpToolsProtocol if parser == "httptools" else H11Protocol
    # uvicorn calls it with config=, server_state=, app_state= for each connection, like a class.
    # A partial of a module-level class pickles, so it reaches worker processes too (WORKERS).
    return cast("type[asyncio.Protocol]", functools.partial(protocol, limits=limits))


class _Protocol(ReceivingLimits):
    """What the two parsers' protocols share: the limits' questions answered from uvicorn's
    state, the draining shutdown, the access log."""

    # Set by uvicorn's protocol.
    access_log: bool
    access_logger: logging.Logger
    flow: FlowControl
    server_state: ServerState
    client: tuple[str, int] | None
    cycle: Any  # the request's RequestResponseCycle, of either parser
    limit_concurrency: int | None  # LIMIT_CONCURRENCY
    connections: set[Any]  # the process's, open
    tasks: set[asyncio.Task[None]]  # the process's requests in progress

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
        # (logs.AccessLog); uvicorn hands the logger to each request's cycle.
        if self.access_log and (fast := access_log_for(self.access_logger)) is not None:
            self.access_logger = fast  # type: ignore[assignment]  # uvicorn only calls its info()

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

    def _over_concurrency_limit(self) -> bool:
        """uvicorn's own test, asked just before it asks: true if it will answer the request
        being handled 503 itself (with its `service_unavailable` app)."""
        limit = self.limit_concurrency
        return limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit)

    def _refusing(self, handle: Callable[[], None]) -> None:
        """`handle()`, uvicorn's handling of a request past LIMIT_CONCURRENCY: its 503 and its
        log line about it get a request ID, and the 503 `Retry-After`, as the app's 503s do."""
        previous = self.cycle
        request_id = new_request_id()
        # Its log line is written within `handle()`, the answer by a task made there: both see it.
        token = CURRENT.set(Serving(request_id, time.perf_counter()))
        try:
            handle()
        finally:
            CURRENT.reset(token)
        if self.cycle is not previous:  # the refused request's
            self.cycle.default_headers = [
                *self.cycle.default_headers,
                (HEADER, request_id.encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            ]
            metrics.UNAVAILABLE.labels("concurrency_limit").inc()
            metrics.REQUESTS.labels(metrics.UNKNOWN_METHOD, metrics.UNMATCHED, "503").inc()

    def _last_request_if_draining(self) -> None:
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False

    def _reading_paused(self) -> bool:
        return bool(self.flow.read_paused)

    def _answer_begun(self) -> bool:
        cycle = self.cycle
        return cycle is not None and cycle.response_started and not cycle.response_complete

    def _answer_and_close(self, failure: Failure, headers: list[tuple[bytes, bytes]]) -> None:
        """Write `failure`'s answer as HTTP/1.1 bytes, with uvicorn's own headers and `headers`,
        and close."""
        body = failure.body()
        status = HTTPStatus(failure.status)
        lines = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [name + b": " + value for name, value in headers]
        lines += [f"{name}: {value}".encode() for name, value in failure.headers.items()]
        lines += [
            b"content-type: application/json",
            b"content-length: %d" % len(body),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"


class HttpToolsProtocol(_Protocol, httptools_impl.HttpToolsProtocol):
    """uvicorn's httptools protocol (the default parser), with `RequestLimits`."""

    def on_headers_complete(self) -> None:
        self._head_received()
        if self._over_concurrency_limit():
            self._refusing(super().on_headers_complete)
        else:
            super().on_headers_complete()
        self._last_request_if_draining()

    def on_message_complete(self) -> None:
        self._request_received()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._stop_checking()  # the WebSocket protocol takes the connection over
        super().handle_websocket_upgrade()


class H11Protocol(_Protocol, h11_impl.H11Protocol):
    """uvicorn's h11 protocol (pure Python), with `RequestLimits`.

    h11 keeps its own limit on an unfinished head (`h11_max_incomplete_event_size`, which
    src/main.py sets to the same size); the one here also catches a head that arrives whole.
    """

    def handle_events(self) -> None:
        if self._over_concurrency_limit():
            self._refusing(super().handle_events)
        else:
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
