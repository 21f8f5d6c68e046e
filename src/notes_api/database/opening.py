"""The service's databases, opened as its options say: the primary migrated and connected, the
replicas beside it, and the check the entry points make before anything starts.

The app's lifespan opens them (`open_database`, `open_read_database`); so do the scripts that work
on the service's database (`make seed`, the benchmarks), the same way. Where the database is
(DATABASE_URL) the caller says: the data layer never starts a server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from notes_api.database import migrations
from notes_api.database.connector import Connector
from notes_api.database.core import Database
from notes_api.database.errors import UNAVAILABLE, DatabaseError
from notes_api.database.replicas import ReadDatabase
from notes_api.database.url import ConnectionTarget

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseOptions:
    """How the service uses its database: the DB_* settings (docs/configuration.md)."""

    pool_min_size: int = 2
    pool_max_size: int = 10
    pool_timeout: float = 5.0
    connect_timeout: float = 5.0
    statement_cache_size: int = 100
    statement_timeout: float = 30.0  # seconds; 0: no limit
    reset_session: bool = False

    def as_arguments(self) -> dict[str, Any]:
        """Keyword arguments for `Database(...)`."""
        return {
            "pool_timeout": self.pool_timeout,
            "connect_timeout": self.connect_timeout,
            "min_size": self.pool_min_size,
            "max_size": self.pool_max_size,
            "statement_cache_size": self.statement_cache_size,
            "server_settings": self.server_settings(),
            # None: asyncpg's full reset; see keep_session.
            "reset": None if self.reset_session else keep_session,
        }

    def server_settings(self) -> dict[str, str]:
        """PostgreSQL settings sent when each connection starts."""
        if not self.statement_timeout:
            return {}
        # Whole milliseconds: PostgreSQL reads a bare number as ms.
        return {"statement_timeout": str(max(1, round(self.statement_timeout * 1000)))}


async def keep_session(connection: asyncpg.Connection) -> None:
    """Reset nothing more when a connection returns to the pool.

    By default asyncpg sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    each time a connection returns to the pool: a second round trip for every one-statement
    request (docs/performance.md, step 10). The service's statements leave none of that state
    behind: no SET, LISTEN, session advisory lock or WITH HOLD cursor (migrations run on
    connections of their own). asyncpg still rolls back a transaction left open before it calls
    this. Code that does change the session should set DB_RESET_SESSION=true, which restores
    asyncpg's reset.
    """


@asynccontextmanager
async def open_database(
    target: ConnectionTarget, options: DatabaseOptions, *, migrate: bool = True
) -> AsyncIterator[Database]:
    """The service's database on `target`, its schema brought up to date first (the Alembic
    migrations, unless `migrate` is false), connected for as long as the block runs."""
    logger.info("Using database %s", target.masked_url)
    if migrate:
        await migrations.upgrade(target, statement_cache_size=options.statement_cache_size)
    async with Database(target, **options.as_arguments()) as database:
        yield database


@asynccontextmanager
async def open_read_database(
    target: ConnectionTarget | None, options: DatabaseOptions, primary: Database
) -> AsyncIterator[Database]:
    """Where reads go while the block runs: the replicas at `target` (DATABASE_READ_URL), falling
    back to `primary`; without a target, `primary` itself."""
    if target is None:
        yield primary
        return
    logger.info("Reading from %s (replicas)", target.masked_url)
    # min_size=0: the service starts while no replica answers (ReadDatabase.connect).
    pool = options.as_arguments() | {"min_size": 0}
    async with ReadDatabase(target, primary=primary, **pool) as reads:
        yield reads


async def check_connection(target: ConnectionTarget, connect_timeout: float) -> None:
    """Connect once, as the pool will (to any of the URL's hosts), and run `SELECT 1`; a
    DatabaseError says, for a person, why that failed."""
    try:
        connection = await Connector(target, timeout=connect_timeout)()
        try:
            await connection.fetchval("SELECT 1")
        finally:
            await connection.close()
    # Unavailable, or refused: a wrong password, no such database.
    except (*UNAVAILABLE, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__  # asyncpg adds HINT lines
        raise DatabaseError(f"cannot connect to {target.masked_url}: {reason}") from error
