"""What the request limits (notes_api/serving/limits.py) cost per request, without a server's noise.

`python bench/protocol.py`: uvicorn's httptools and h11 protocols, as uvicorn ships them
and with the limits, each fed the same kept-alive `GET` requests in this process, on uvloop: no
socket, and an app that answers at once, so that the protocol's own work is all there is to time.
The rounds take turns, short so that some escape the other work of a shared machine; each
protocol's best round is kept, in microseconds per request.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from collections.abc import Callable

import uvloop
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from notes_api.config import Settings
from notes_api.serving import protocol
from notes_api.serving.limits import RequestLimits

# What wrk sends for GET /notes/{id} in `make bench`, give or take the id.
REQUEST = (
    b"GET /notes/42 HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nUser-Agent: wrk\r\n"
    b"Accept: */*\r\nConnection: keep-alive\r\n\r\n"
)

ProtocolFactory = Callable[..., asyncio.Protocol]


class Transport(asyncio.Transport):
    """A socket that swallows what is written and counts the answers."""

    def __init__(self) -> None:
        super().__init__({"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 5000)})
        self.answers = 0
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.answers += bytes(data[:9]) == b"HTTP/1.1 "

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


async def microseconds_per_request(factory: ProtocolFactory, requests: int) -> float:
    config = Config(app=app, log_config=None, access_log=False)
    config.load()
    connection = factory(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    connection.connection_made(transport)
    started = time.perf_counter()
    for _ in range(requests):
        connection.data_received(REQUEST)
        await asyncio.sleep(0)  # the request's task runs, and answers, in the loop's next turn
    elapsed = time.perf_counter() - started
    assert transport.answers == requests, f"{transport.answers} answers to {requests} requests"
    connection.connection_lost(None)
    return elapsed / requests * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000, help="Per protocol and round.")
    parser.add_argument("--rounds", type=int, default=40)
    arguments = parser.parse_args(argv)
    defaults = Settings(_env_file=None)
    limits = RequestLimits(defaults.request_timeout, defaults.max_header_size)
    factories: dict[str, ProtocolFactory] = {
        "httptools": HttpToolsProtocol,
        "httptools + limits": functools.partial(protocol.HttpToolsProtocol, limits=limits),
        "h11": H11Protocol,
        "h11 + limits": functools.partial(protocol.H11Protocol, limits=limits),
    }
    best = dict.fromkeys(factories, float("inf"))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        for _ in range(arguments.rounds):
            for name, factory in factories.items():
                micros = runner.run(microseconds_per_request(factory, arguments.requests))
                best[name] = min(best[name], micros)
    for name, micros in best.items():
        print(f"{name:20} {micros:7.2f} µs per request")
    for parser_name in ("httptools", "h11"):
        added = best[f"{parser_name} + limits"] - best[parser_name]
        print(f"the limits add {added:+.2f} µs per request to {parser_name}")


if __name__ == "__main__":
    main()
