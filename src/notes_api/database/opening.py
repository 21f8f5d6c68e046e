"""The service's databases, opened as its settings say: the primary migrated and connected, the
replicas beside it, and the check the entry points make before anything starts.

The app's lifespan opens them (`open_database`, `open_read_database`); so do the scripts that work
on the service's database (`make seed`, the benchmarks), the same way. Where the database is
(DATABASE_URL) the caller says: the data layer never starts a server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from notes_api.database import migrations
from notes_api.database.connector import Connector
from notes_api.database.core import Database
from notes_api.database.errors import UNAVAILABLE, DatabaseError
from notes_api.database.replicas import ReadDatabase
from notes_api.database.settings import DatabaseSettings
from notes_api.database.url import ConnectionTarget

logger = logging.getLogger(__name__)


@asynccontextmanager
async def open_database(settings: DatabaseSettings) -> AsyncIterator[Database]:
    """The service's database at DATABASE_URL, its schema brought up to date first (the Alembic
    migrations, unless MIGRATE_ON_START is false), connected for as long as the block runs."""
    target = settings.database_target()
    logger.info("Using database %s", target.masked_url)
    if settings.migrate_on_start:
        await migrations.upgrade(
            target,
            statement_cache_size=settings.db_statement_cache_size,
            text_search_config=settings.text_search_config,
        )
    async with Database(target, **settings.database_arguments()) as database:
        yield database


@asynccontextmanager
async def open_read_database(
    settings: DatabaseSettings, primary: Database
) -> AsyncIterator[Database]:
    """Where reads go while the block runs: the replicas at DATABASE_READ_URL, falling back to
    `primary`; without it, `primary` itself."""
    target = settings.read_target()
    if target is None:
        yield primary
        return
    logger.info("Reading from %s (replicas)", target.masked_url)
    # min_size=0: the service starts while no replica answers (ReadDatabase.connect).
    arguments = settings.database_arguments() | {"min_size": 0}
    async with ReadDatabase(target, primary=primary, **arguments) as reads:
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
