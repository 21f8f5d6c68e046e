"""Each reach into uvicorn's private parts (serving/protocol.py lists them) still finds what it
relies on: one test per reach, named after it, on protocols made in this process as uvicorn makes
them, fed requests through a transport of the test's own. No server, no socket, no database.

A uvicorn release that moves one of them fails here, by name, before a request does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterator
from typing import Any

import h11
import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http import h11_impl, httptools_impl
from uvicorn.server import ServerState

from notes_api.serving.limits import RequestLimits
from notes_api.serving.protocol import H11Protocol, HttpToolsProtocol

REQUEST = b"GET /notes/1 HTTP/1.1\r\nHost: test\r\n\r\n"
UVICORN_CLASSES = {"httptools": httptools_impl.HttpToolsProtocol, "h11": h11_impl.H11Protocol}
OURS: dict[str, type] = {"httptools": HttpToolsProtocol, "h11": H11Protocol}


class Transport(asyncio.Transport):
    """A socket that keeps what is written."""

    def __init__(self) -> None:
        super().__init__({"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 5000)})
        self.written = b""
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class App:
    """Answers 200 once `answer` is set: the test looks at the request's cycle in between."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.answer.wait()
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"2")],
        }
        await send(start)
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture(params=["httptools", "h11"])
def parser(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop of the test's, which ends the requests' tasks still waiting when the test is over."""
    loop = asyncio.new_event_loop()
    yield loop
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()

    async def ended() -> None:
        await asyncio.gather(*pending, return_exceptions=True)

    loop.run_until_complete(ended())
    loop.close()


def connect(parser: str | type, app: Any, loop: asyncio.AbstractEventLoop, **config: Any) -> Any:
    """Our protocol for `parser` (or this subclass of one), made as uvicorn makes it, on a
    transport of the test's."""
    protocol_class = OURS[parser] if isinstance(parser, str) else parser
    # ws="none": these tests drive HTTP only, and uvicorn's default ("auto") imports a WebSocket
    # library, which at our uvicorn floor warns (websockets.legacy) under `filterwarnings = error`.
    defaults: dict[str, Any] = {"access_log": False, "ws": "none"}
    settings = Config(app=app, log_config=None, **defaults | config)
    settings.load()
    limits = RequestLimits(timeout=10, max_head_size=16384)
    protocol = protocol_class(
        config=settings, server_state=ServerState(), app_state={}, _loop=loop, limits=limits
    )
    protocol.connection_made(Transport())
    return protocol


def test_uvicorn_makes_each_protocol_with_config_server_state_app_state_and__loop() -> None:
    for uvicorn_class in UVICORN_CLASSES.values():
        parameters = list(inspect.signature(uvicorn_class.__init__).parameters)
        assert parameters == ["self", "config", "server_state", "app_state", "_loop"]


def test_uvicorn_protocols_keep_loop_transport_client_and_server_state_default_headers(
    parser: str, loop: asyncio.AbstractEventLoop
) -> None:
    protocol = connect(parser, App(), loop)

    assert protocol.loop is loop
    assert isinstance(protocol.transport, Transport)
    assert protocol.client == ("127.0.0.1", 40000)
    assert isinstance(protocol.server_state, ServerState)
    headers = protocol.server_state.default_headers
    assert isinstance(headers, list)
    assert {(type(name), type(value)) for name, value in headers} <= {(bytes, bytes)}


def test_uvicorn_protocols_keep_flow_read_paused(
    parser: str, loop: asyncio.AbstractEventLoop
) -> None:
    protocol = connect(parser, App(), loop)

    assert protocol.flow.read_paused is False
    protocol.flow.pause_reading()
    assert protocol.flow.read_paused is True


def test_uvicorn_protocols_keep_the_requests_cycle_with_response_started_complete_keep_alive(
    parser: str, loop: asyncio.AbstractEventLoop
) -> None:
    app = App()
    protocol = connect(parser, app, loop)
    assert protocol.cycle is None

    protocol.data_received(REQUEST)
    loop.run_until_complete(asyncio.sleep(0))  # the app runs, and waits to answer
    cycle: Any = protocol.cycle
    assert (cycle.response_started, cycle.response_complete, cycle.keep_alive) == (
        False,
        False,
        True,
    )
    app.answer.set()
    loop.run_until_complete(asyncio.sleep(0.01))
    assert (cycle.response_started, cycle.response_complete) == (True, True)
    assert protocol.transport.written.startswith(b"HTTP/1.1 200 OK\r\n")


def test_uvicorn_protocols_call_only_info_on_their_access_logger(
    parser: str, loop: asyncio.AbstractEventLoop
) -> None:
    # serving/logs.AccessLog stands in for the logger, and has no other method.
    class OnlyInfo:
        calls: list[tuple[str, tuple[object, ...]]] = []  # noqa: RUF012

        def info(self, msg: str, *args: object) -> None:
            self.calls.append((msg, args))

    app = App()
    app.answer.set()
    protocol = connect(parser, app, loop, access_log=True)
    assert protocol.access_log is True
    assert isinstance(protocol.access_logger, logging.Logger)
    protocol.access_logger = OnlyInfo()

    protocol.data_received(REQUEST)
    loop.run_until_complete(asyncio.sleep(0.01))

    [(msg, args)] = OnlyInfo.calls
    assert msg % args == '127.0.0.1:40000 - "GET /notes/1 HTTP/1.1" 200'


def test_uvicorn_protocols_shut_down_through_shutdown(
    parser: str, loop: asyncio.AbstractEventLoop
) -> None:
    protocol = connect(parser, App(), loop)

    protocol.shutdown()  # idle: uvicorn closes the connection at once (no drain set)

    assert protocol.transport.is_closing()


def test_uvicorn_httptools_calls_on_headers_complete_then_on_message_complete(
    loop: asyncio.AbstractEventLoop,
) -> None:
    calls: list[str] = []

    class Recording(HttpToolsProtocol):
        def on_headers_complete(self) -> None:
            calls.append("on_headers_complete")
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            calls.append("on_message_complete")
            super().on_message_complete()

    protocol = connect(Recording, App(), loop)
    protocol.data_received(REQUEST)

    assert calls == ["on_headers_complete", "on_message_complete"]
    assert protocol.request_started is None  # ours saw the request received


def test_uvicorn_h11_handles_events_and_keeps_conn_their_state(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol = connect("h11", App(), loop)

    def their_state() -> type:
        state: type = protocol.conn.their_state
        return state

    assert their_state() is h11.IDLE
    protocol.data_received(REQUEST[:20])  # part of the head: handle_events runs, no request yet
    assert their_state() is h11.IDLE
    assert protocol.receiving_head is True
    protocol.data_received(REQUEST[20:])
    assert their_state() is h11.DONE
    assert protocol.receiving_head is True  # the next request's
    assert protocol.request_started is None


def test_uvicorn_handles_a_websocket_upgrade_with_these_arguments() -> None:
    httptools = inspect.signature(httptools_impl.HttpToolsProtocol.handle_websocket_upgrade)
    h11_ = inspect.signature(h11_impl.H11Protocol.handle_websocket_upgrade)

    assert list(httptools.parameters) == ["self"]
    assert list(h11_.parameters) == ["self", "event"]


def test_uvicorn_protocols_refuse_past_limit_concurrency_from_connections_and_tasks(
    parser: str, loop: asyncio.AbstractEventLoop
) -> None:
    # uvicorn's own test, which protocol.py asks just before it (`_over_concurrency_limit`).
    protocol = connect(parser, App(), loop, limit_concurrency=1)
    assert protocol.limit_concurrency == 1
    assert protocol.connections is protocol.server_state.connections
    assert protocol.tasks is protocol.server_state.tasks
    assert protocol in protocol.connections  # one open: the limit is reached

    protocol.data_received(REQUEST)
    loop.run_until_complete(asyncio.sleep(0.01))

    # uvicorn's service_unavailable answered, through the request's cycle, whose
    # `default_headers` protocol.py added the request's ID and Retry-After to.
    written = protocol.transport.written
    assert written.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"\r\nx-request-id: " in written
    assert b"\r\nretry-after: 5\r\n" in written
    assert protocol.cycle.default_headers is not protocol.server_state.default_headers
