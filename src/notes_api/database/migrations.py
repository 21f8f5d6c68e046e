"""Alembic, driven from code, on the service's database: `upgrade()` at start, and the commands
of `python -m notes_api.migrate` (notes_api/migrate.py).

The migrations themselves are in notes_api/migrations/ (Alembic's env.py and versions/). They run
on a connection of their own that holds an advisory lock while they run: workers starting
together migrate one after the other, and the later ones find nothing left to do. Each migration
is a transaction of its own, so that one may step out of it (`CREATE INDEX CONCURRENTLY` cannot
run in a transaction: migrations/live.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from notes_api.database.connector import Connector
from notes_api.database.url import ConnectionTarget

logger = logging.getLogger(__name__)

# Seconds to find, among several hosts, the one to migrate (target_session_attrs decides).
CONNECT_TIMEOUT = 10.0
# The advisory lock that serialises migrations: any constant all processes of the service share.
MIGRATION_LOCK_KEY = 0x6E6F746573  # "notes"
# Seconds between tries for that lock while another process migrates.
LOCK_POLL = 0.2


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "notes_api:migrations")
    return config


async def run(
    target: ConnectionTarget,
    revision: str = "head",
    *,
    downgrade: bool = False,
    statement_cache_size: int = 100,
    text_search_config: str = "simple",
) -> None:
    """Upgrade (or downgrade) the schema of `target` to `revision`, one migrator at a time.

    `statement_cache_size`: 0 behind PgBouncer, as DB_STATEMENT_CACHE_SIZE.
    `text_search_config`: the one the search index is built with (TEXT_SEARCH_CONFIG)."""

    def migrate(config: Config) -> None:
        if downgrade:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)

    attributes = {"text_search_config": text_search_config}
    await _on_connection(target, migrate, statement_cache_size, attributes)


async def upgrade(
    target: ConnectionTarget, *, statement_cache_size: int = 100, text_search_config: str = "simple"
) -> None:
    await run(
        target,
        "head",
        statement_cache_size=statement_cache_size,
        text_search_config=text_search_config,
    )


def write_sql(revisions: str = "base:head", *, text_search_config: str = "simple") -> None:
    """Print the SQL the upgrades in `revisions` would run, without a database (Alembic's offline
    mode): for reading, and for squawk, the migrations' linter (`make check`)."""
    config = alembic_config()
    config.attributes["text_search_config"] = text_search_config
    command.upgrade(config, revisions, sql=True)


async def new_revision(target: ConnectionTarget, message: str) -> None:
    """Write a migration for the difference between notes/tables.py and the database (at head)."""
    await _on_connection(
        target, lambda config: command.revision(config, message=message, autogenerate=True)
    )


def engine_for(target: ConnectionTarget, statement_cache_size: int = 100) -> AsyncEngine:
    """A SQLAlchemy engine (for Alembic) whose connections asyncpg opens with the service's
    options: the URL only names the driver, `connect_args` say where and how."""
    connect_args = target.connect_options() | {"statement_cache_size": statement_cache_size}
    return create_async_engine(
        "postgresql+asyncpg://", connect_args=connect_args, poolclass=NullPool
    )


async def _on_connection(
    target: ConnectionTarget,
    alembic_command: Callable[[Config], Any],
    statement_cache_size: int = 100,
    attributes: dict[str, Any] | None = None,
) -> None:
    if len(target.hosts) > 1:
        # The engine's connections go to the host the service's own would (connector.py).
        target = await Connector(target, timeout=CONNECT_TIMEOUT).reachable()
    engine = engine_for(target, statement_cache_size)

    def on(connection: Connection) -> None:
        config = alembic_config()
        # env.py runs the migrations on this connection, which holds the lock.
        config.attributes["connection"] = connection
        config.attributes.update(attributes or {})
        alembic_command(config)

    try:
        async with engine.connect() as connection:
            # Workers starting together would otherwise race to create the same table.
            await _lock(connection)
            try:
                await connection.run_sync(on)
            finally:
                await connection.rollback()  # nothing is left open when a migration failed
                await connection.execute(UNLOCK, {"key": MIGRATION_LOCK_KEY})
                await connection.commit()
    finally:
        await engine.dispose()


# A session's lock, held across the migrations' transactions (a transaction's lock would end with
# the first). Taken without waiting, and tried again: a process waiting in pg_advisory_lock() would
# be a transaction that CREATE INDEX CONCURRENTLY, in the process holding the lock, waits for.
TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
UNLOCK = text("SELECT pg_advisory_unlock(:key)")


async def _lock(connection: AsyncConnection) -> None:
    waiting = False
    while True:
        locked = (await connection.execute(TRY_LOCK, {"key": MIGRATION_LOCK_KEY})).scalar()
        await connection.commit()  # Alembic begins the migrations' transactions itself
        if locked:
            return
        if not waiting:
            logger.info("Waiting for another process to finish migrating")
            waiting = True
        await asyncio.sleep(LOCK_POLL)
