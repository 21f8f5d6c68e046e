"""The development database: DATABASE_URL when it is set, else the embedded server's, for the
entry points (src/main.py, notes_api.migrate, scripts/) to hand the service:

    with database_or_embedded(settings) as settings:  # with DATABASE_URL set
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import asyncpg
from pydantic import SecretStr

from notes_api.config import Settings
from notes_api.development.embedded import EmbeddedPostgres

# The database the service uses in the embedded server.
EMBEDDED_DATABASE = "notes"


@contextlib.contextmanager
def database_or_embedded(settings: Settings) -> Iterator[Settings]:
    """`settings`, with DATABASE_URL set: as they are, or the embedded server's, which runs for as
    long as the block does (`embedded_database`). Not inside a running event loop."""
    if settings.database_url is not None:
        yield settings
        return
    with embedded_database(settings) as url:
        yield settings.model_copy(update={"database_url": SecretStr(url)})


@contextlib.contextmanager
def embedded_database(settings: Settings) -> Iterator[str]:
    """The embedded server, running for as long as the block does, with the service's database
    in it; yields that database's URL (password included: not for logs).

    Started once by an entry point (src/main.py, in the parent process, so that reloads and
    workers share one server). A server that already runs (started by another process) is used
    and left running.
    """
    server = EmbeddedPostgres(root=settings.embedded_db_dir, port=settings.embedded_db_port)
    server.start()
    try:
        asyncio.run(ensure_database(server.url(), EMBEDDED_DATABASE))
        yield server.url(EMBEDDED_DATABASE)
    finally:
        server.stop()


async def ensure_database(admin_url: str, name: str) -> None:
    """Create database `name` on the server behind `admin_url` unless it exists."""
    connection = await asyncpg.connect(admin_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.DuplicateDatabaseError:
        pass  # created by a concurrent starter
    finally:
        await connection.close()
