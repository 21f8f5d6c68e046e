"""What the app does when it starts and when it stops: open the database, then close it.

Opening is three steps, in order: find the database (DATABASE_URL, or the embedded server, started
here if nobody started it), bring its schema up to date (the Alembic migrations, unless
MIGRATE_ON_START=false), and connect the pool; then, with DATABASE_READ_URL, the replicas' pool
(replicas.py). Scripts that work on the service's database
(`make seed`, the benchmarks) open it the same way, with `open_database`.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI

from notes_api import migrate
from notes_api.config import Settings
from notes_api.database import Database
from notes_api.database_url import ConnectionTarget
from notes_api.embedded import database_or_embedded
from notes_api.replicas import open_read_database

logger = logging.getLogger(__name__)


class State(TypedDict):
    """What the lifespan hands every request (`request.state.database`)."""

    database: Database
    read_database: Database  # the replicas (DATABASE_READ_URL), else `database` itself


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """The service's database, migrated and connected, for as long as the block runs."""
    async with database_or_embedded(settings) as url:
        target = ConnectionTarget.from_url(url)
        embedded = " (embedded)" if settings.database_url is None else ""
        logger.info("Using database %s%s", target.masked_url, embedded)
        if settings.migrate_on_start:
            await migrate.upgrade(target, statement_cache_size=settings.db_statement_cache_size)
        async with Database.from_settings(target, settings) as database:
            yield database


def lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    """The app's lifespan: its database open while it serves."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[State]:
        async with (
            open_database(settings) as database,
            open_read_database(settings, database) as read_database,
        ):
            settle_startup_objects()
            yield {"database": database, "read_database": read_database}

    return run


def settle_startup_objects() -> None:
    """Keep the garbage collector's full passes off what startup built.

    Modules, the app, its routes, models and schemas live as long as the process, yet every full
    collection walked them all: under load that came every half second and stopped the event
    loop for tens of milliseconds, most of the p99 latency (docs/performance.md, step 14).
    Frozen, they are left out of collections; they are still freed by reference counting should
    they go. The garbage made so far is collected first.
    """
    gc.collect()
    gc.freeze()
