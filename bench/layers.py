"""`make bench-layers`: the CPU each request costs the service, and the floor, in this process.

No load generator and no socket: uvicorn's httptools protocol is fed kept-alive `GET /notes/{id}`
(or --path) requests on 32 connections at once, as from wrk, each answer awaited before the next;
the app runs with its lifespan on a real database, with the access log written as the service
writes it (logging.py). What is counted is this process's CPU time (both of its threads: the
event loop and the log writer) per request: what each app, or piece taken out of the service,
costs, without the noise of a machine that runs the database, wrk and the server at once.
Variants take turns, round after round; each one's figure is its median.

    python bench/layers.py [--requests 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import uvloop
from support import BENCH_DATABASE, ROOT, bench_databases, reset_notes
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

sys.path.insert(0, str(ROOT / "bench"))
import floor

from notes_api.app import create_app
from notes_api.config import Settings
from notes_api.serving.guards import Guards
from notes_api.serving.limits import RequestLimits
from notes_api.serving.logs import log_config
from notes_api.serving.protocol import http_protocol

NOTES = 10_000
DEFAULTS = Settings(_env_file=None)
SERVICE_PROTOCOL = http_protocol(
    "httptools", RequestLimits(DEFAULTS.request_timeout, DEFAULTS.max_header_size)
)


class Floor:
    """bench/floor.py's app, marked as such."""

    def __init__(self, url: str) -> None:
        self.app = floor.create_app(url)
        self.router = self.app.router

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class Transport:
    """A socket that swallows what is written and tells when an answer has ended."""

    def __init__(self) -> None:
        self.answered = asyncio.Event()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 5000)}.get(name)

    def write(self, data: bytes) -> None:
        # Each answer here is one write of headers and body, or ends with its body's last write.
        if data.endswith(b"}") or data.endswith(b"]"):
            self.answered.set()

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def request(path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nUser-Agent: wrk\r\n"
        "Accept: */*\r\nConnection: keep-alive\r\n\r\n"
    ).encode()


async def cpu_per_request(
    app: Any,
    state: dict[str, Any],
    access_log: bool,
    n: int,
    path: str = "/notes/{id}",
    clients: int = 1,
) -> float:
    # What uvicorn does for ACCESS_LOG=false, and undoes for the variants with the log.
    logging.getLogger("uvicorn.access").propagate = access_log
    # Each as it runs: the service without proxy headers (main.py), the floor with uvicorn's
    # defaults (bench/reference.py); the service's protocol (its limits, its access log).
    floor_app = isinstance(app, Floor)
    config = Config(app=app, log_config=None, loop="none", proxy_headers=floor_app)
    config.load()
    factory: Any = HttpToolsProtocol if floor_app else SERVICE_PROTOCOL
    dice = random.Random(1)

    async def client(requests: int) -> None:
        connection = factory(config=config, server_state=ServerState(), app_state=state)
        transport = Transport()
        connection.connection_made(transport)
        for _ in range(requests):
            transport.answered.clear()
            connection.data_received(request(path.format(id=dice.randint(1, NOTES))))
            await transport.answered.wait()
        connection.connection_lost(None)

    started = time.process_time()
    await asyncio.gather(*(client(n // clients) for _ in range(clients)))
    return (time.process_time() - started) / (n // clients * clients) * 1e6


def without(layer: type, app: Any) -> Any:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not layer]
    return app


def variants(url: str) -> dict[str, tuple[Callable[[], Any], bool]]:
    """The apps measured, by name: how to build each, and whether it writes the access log."""
    settings = Settings(_env_file=None, database_url=url)
    unmeasured = settings.model_copy(update={"metrics": False})
    return {
        "service": (lambda: create_app(settings), True),
        "service, METRICS=false": (lambda: create_app(unmeasured), True),
        "service, ACCESS_LOG=false": (lambda: create_app(settings), False),
        "service without Guards, no log": (lambda: without(Guards, create_app(settings)), False),
        "floor (bench/floor.py)": (lambda: Floor(url), False),
    }


def log_as_the_service() -> None:
    """The access log as the service writes it, to a file: what a server's stderr usually is."""
    log = open(os.devnull, "w")  # noqa: SIM115 (for the whole run)
    config = log_config("warning", access_log=True)
    config["handlers"]["default"]["stream"] = log
    config["loggers"]["uvicorn.access"]["level"] = "INFO"
    logging.config.dictConfig(config)


async def measure(
    url: str, path: str, requests: int, rounds: int, clients: int
) -> dict[str, list[float]]:
    builders = variants(url)
    figures: dict[str, list[float]] = {name: [] for name in builders}
    async with AsyncExitStack() as stack:
        apps = {}
        for name, (build, access_log) in builders.items():
            app = build()
            state = await stack.enter_async_context(app.router.lifespan_context(app))
            apps[name] = (app, dict(state or {}), access_log)
            await cpu_per_request(*apps[name], 300)  # warm up: pool, prepared statements
        for round_number in range(rounds):
            names = list(apps)
            turn = round_number % len(names)
            for name in names[turn:] + names[:turn]:
                figure = await cpu_per_request(*apps[name], requests, path, clients)
                figures[name].append(figure)
    return figures


async def run(arguments: argparse.Namespace) -> dict[str, list[float]]:
    async with bench_databases(Settings(), BENCH_DATABASE) as (url,):
        await reset_notes(url, NOTES)
        return await measure(
            url, arguments.path, arguments.requests, arguments.rounds, arguments.clients
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2_000, help="Per variant and round.")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--path", default="/notes/{id}", help="Or /notes?take=20, say.")
    parser.add_argument("--clients", type=int, default=32, help="Connections at once, as wrk's.")
    arguments = parser.parse_args()
    log_as_the_service()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        figures = runner.run(run(arguments))
    floor_cpu = statistics.median(figures["floor (bench/floor.py)"])
    rounds, requests = arguments.rounds, arguments.requests
    clients = arguments.clients
    print(f"CPU per GET {arguments.path}, {clients} clients, median of {rounds} x {requests}:")
    for name, values in figures.items():
        median = statistics.median(values)
        print(f"  {name:32} {median:7.1f} µs  ({median / floor_cpu:.2f}x the floor's)")


if __name__ == "__main__":
    main()
