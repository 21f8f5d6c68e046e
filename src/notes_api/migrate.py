"""Alembic, driven from code: `upgrade()` at start, `python -m notes_api.migrate` on demand."""

from __future__ import annotations

import asyncio
import logging
import sys

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from notes_api.config import Settings
from notes_api.database import ConnectionTarget, connection_target
from notes_api.logging import log_config

logger = logging.getLogger(__name__)

# The advisory lock that serialises migrations: any constant all processes of the service share.
MIGRATION_LOCK_KEY = 0x6E6F746573  # "notes"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "notes_api:migrations")
    return config


async def run(target: ConnectionTarget, revision: str = "head", *, downgrade: bool = False) -> None:
    """Upgrade (or downgrade) the schema of `target` to `revision`, one migrator at a time."""
    engine = create_async_engine(
        target.url("postgresql+asyncpg"), connect_args=target.connect_options, poolclass=NullPool
    )
    try:
        async with engine.begin() as connection:
            # Workers starting together would otherwise race to create the same table.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            await connection.run_sync(_run_alembic, revision, downgrade)
    finally:
        await engine.dispose()


async def upgrade(target: ConnectionTarget) -> None:
    await run(target, "head")


def _run_alembic(connection: Connection, revision: str, downgrade: bool) -> None:
    config = alembic_config()
    # env.py runs the migrations on this connection, inside our transaction and lock.
    config.attributes["connection"] = connection
    if downgrade:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


async def _main(revision: str, downgrade: bool) -> None:
    async with connection_target(Settings()) as target:
        logger.info("Migrating %s to %s", target.masked_url, revision)
        await run(target, revision, downgrade=downgrade)


if __name__ == "__main__":
    import logging.config

    settings = Settings()
    logging.config.dictConfig(log_config(settings.log_level))
    # python -m notes_api.migrate [revision]   (default: head)
    # python -m notes_api.migrate --down <revision>
    args = sys.argv[1:]
    down = bool(args) and args[0] == "--down"
    if down:
        args = args[1:]
    asyncio.run(_main(args[0] if args else "head", down))
