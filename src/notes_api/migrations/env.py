"""Alembic environment: runs on the connection handed over by notes_api.migrate, or on one of its
own (the `alembic` command line, e.g. `alembic revision --autogenerate`), found as the service does.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from notes_api.config import Settings
from notes_api.database_url import ConnectionTarget
from notes_api.embedded import database_or_embedded
from notes_api.migrate import engine_for
from notes_api.tables import metadata


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone() -> None:
    settings = Settings()
    async with database_or_embedded(settings) as url:
        engine = engine_for(ConnectionTarget.from_url(url), settings.db_statement_cache_size)
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported: run them against a database.")

shared = context.config.attributes.get("connection")
if shared is not None:
    run_on(shared)
else:
    asyncio.run(run_standalone())
