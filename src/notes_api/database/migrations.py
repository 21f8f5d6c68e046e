"""Alembic, driven from code, on the service's database: `upgrade()` at start, and the commands
of `python -m notes_api.migrate` (notes_api/migrate.py).

The migrations themselves are in notes_api/migrations/ (Alembic's env.py and versions/). They run
on a connection of their own, inside a transaction that holds an advisory lock: workers starting
together migrate one after the other, and the later ones find nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from notes_api.database.connector import Connector
from notes_api.database.url import ConnectionTarget

# Seconds to find, among several hosts, the one to migrate (target_session_attrs decides).
CONNECT_TIMEOUT = 10.0
# The advisory lock that serialises migrations: any constant all processes of the service share.
MIGRATION_LOCK_KEY = 0x6E6F746573  # "notes"


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
) -> None:
    """Upgrade (or downgrade) the schema of `target` to `revision`, one migrator at a time.

    `statement_cache_size`: 0 behind PgBouncer, as DB_STATEMENT_CACHE_SIZE."""

    def migrate(config: Config) -> None:
        if downgrade:
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)

    await _on_connection(target, migrate, statement_cache_size)


async def upgrade(target: ConnectionTarget, *, statement_cache_size: int = 100) -> None:
    await run(target, "head", statement_cache_size=statement_cache_size)


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
) -> None:
    if len(target.hosts) > 1:
        # The engine's connections go to the host the service's own would (connector.py).
        target = await Connector(target, timeout=CONNECT_TIMEOUT).reachable()
    engine = engine_for(target, statement_cache_size)

    def on(connection: Connection) -> None:
        config = alembic_config()
        # env.py runs the migrations on this connection, inside our transaction and lock.
        config.attributes["connection"] = connection
        alembic_command(config)

    try:
        async with engine.begin() as connection:
            # Workers starting together would otherwise race to create the same table.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            await connection.run_sync(on)
    finally:
        await engine.dispose()
