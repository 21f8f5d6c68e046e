"""Run the notes API: `python src/main.py` (or `make run`, which turns on auto-reload).

Settings come from the environment and `.env` (see `.env.example`). Without DATABASE_URL, the
embedded PostgreSQL is started here, in the parent process, so that reloads and workers share one
server instead of each starting and stopping their own; the app is handed its URL.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import logging.config
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from notes_api.config import Settings, as_environment, load_settings
from notes_api.database import DatabaseError, check_connection
from notes_api.development.binaries import EmbeddedUnavailableError
from notes_api.development.database import database_or_embedded
from notes_api.observability.metrics import MULTIPROCESS_DIRECTORY
from notes_api.serving.limits import RequestLimits
from notes_api.serving.logs import log_config
from notes_api.serving.protocol import http_protocol

logger = logging.getLogger("notes_api.main")

# Seconds the start-up check waits for the database to accept a connection.
CONNECT_TIMEOUT = 10


def serve(settings: Settings) -> None:
    # uvicorn builds the app (`create_app()`, which reads Settings()) here, or in worker and
    # reload processes of its own: they all read the settings as resolved here.
    os.environ.update(as_environment(settings))
    config = log_config(
        settings.log_level, access_log=settings.access_log, log_format=settings.log_format
    )
    uvicorn.run(
        "notes_api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        reload=settings.reload,
        reload_dirs=[os.path.dirname(__file__)] if settings.reload else None,
        workers=settings.workers,
        log_config=config,
        access_log=settings.access_log,
        # On SIGTERM, requests in flight get this long to finish before their connections close.
        timeout_graceful_shutdown=settings.shutdown_timeout,
        # Read X-Forwarded-* only from proxies named in FORWARDED_ALLOW_IPS: otherwise the
        # headers mean nothing, and parsing them costs every request.
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # uvloop's event loop when installed (uvicorn[standard] has it, but not on every platform).
        loop="uvloop" if has_module("uvloop") else "asyncio",
        # The parser's protocol, with a deadline and a size limit for receiving each request.
        http=http_protocol(
            settings.http_parser,
            RequestLimits(
                timeout=settings.request_timeout,
                max_head_size=settings.max_header_size,
                drain=settings.shutdown_drain,
            ),
        ),
        h11_max_incomplete_event_size=settings.max_header_size,
        # Past this many connections or requests in progress, new requests get 503.
        limit_concurrency=settings.limit_concurrency,
    )


@contextmanager
def metrics_shared(settings: Settings) -> Iterator[None]:
    """With WORKERS > 1, a directory where every worker keeps its metrics, for /metrics to show
    them all whichever worker a scrape reaches (prometheus-client's multiprocess mode); made
    empty, as that mode needs, and removed at the end."""
    if settings.workers == 1 or not settings.metrics:
        yield
        return
    directory = tempfile.mkdtemp(prefix="notes-api-metrics-")
    os.environ[MULTIPROCESS_DIRECTORY] = directory  # the workers inherit it
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIRECTORY]
        shutil.rmtree(directory, ignore_errors=True)


def check_database(settings: Settings) -> None:
    """Fail now, in one line, if DATABASE_URL cannot be reached, rather than with a traceback
    from every worker's startup."""
    timeout = max(CONNECT_TIMEOUT, settings.db_connect_timeout)
    try:
        asyncio.run(check_connection(settings.database_target(), timeout))
    except DatabaseError as error:
        print(f"error: DATABASE_URL: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def exit_cleanly(signum: int, frame: object) -> None:
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then restores this handler and raises the
    # signal again to end the process. Ending it here, as an exception, lets the `finally` below
    # stop the embedded server first, and makes a requested stop exit 0.
    raise SystemExit(0)


def exit_cleanly_on_signals() -> None:
    signal.signal(signal.SIGTERM, exit_cleanly)
    signal.signal(signal.SIGINT, exit_cleanly)


def main() -> None:
    exit_cleanly_on_signals()
    settings = load_settings()
    logging.config.dictConfig(log_config(settings.log_level, log_format=settings.log_format))
    if settings.database_url is not None:
        check_database(settings)
    try:
        with database_or_embedded(settings) as on_database, metrics_shared(settings):
            serve(on_database)
    except EmbeddedUnavailableError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
elif __name__ == "__mp_main__":
    # A server process of uvicorn's (auto-reload, WORKERS > 1): multiprocessing runs this file
    # again under this name before it starts the server. Its parent stops it with SIGTERM (on
    # Ctrl+C too), which uvicorn raises again after the graceful shutdown. Caught, it ends the
    # process through Python's own exit, whose logging.shutdown() writes the lines still queued
    # (BackgroundHandler): `Application shutdown complete.`, `Finished server process`. By
    # SIGTERM's default action, the process would die with them.
    exit_cleanly_on_signals()
