"""Alembic environment: runs on the connection handed over by notes_api.migrate, or on one of its
own (the `alembic` command line, e.g. `alembic revision --autogenerate`), found as the service does.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from notes_api.config import Settings
from notes_api.database import connection_target
from notes_api.tables import metadata


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone() -> None:
    async with connection_target(Settings()) as target:
        engine = create_async_engine(
            target.url("postgresql+asyncpg"),
            connect_args=target.connect_options,
            poolclass=NullPool,
        )
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
