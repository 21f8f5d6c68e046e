"""Alembic, driven from code: `upgrade()` at start, `python -m notes_api.migrate` on demand."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

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
    if downgrade:
        await _on_connection(target, lambda config: command.downgrade(config, revision))
    else:
        await _on_connection(target, lambda config: command.upgrade(config, revision))


async def upgrade(target: ConnectionTarget) -> None:
    await run(target, "head")


async def new_revision(target: ConnectionTarget, message: str) -> None:
    """Write a migration for the difference between tables.py and the database (at head)."""
    await _on_connection(
        target, lambda config: command.revision(config, message=message, autogenerate=True)
    )


async def _on_connection(
    target: ConnectionTarget, alembic_command: Callable[[Config], Any]
) -> None:
    engine = create_async_engine(
        target.url("postgresql+asyncpg"), connect_args=target.connect_options, poolclass=NullPool
    )

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


async def _main(arguments: argparse.Namespace) -> None:
    async with connection_target(Settings()) as target:
        if arguments.command == "revision":
            await new_revision(target, arguments.message)
            return
        logger.info("Migrating %s to %s", target.masked_url, arguments.revision)
        await run(target, arguments.revision, downgrade=arguments.command == "downgrade")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m notes_api.migrate")
    commands = parser.add_subparsers(dest="command")
    up = commands.add_parser("upgrade", help="apply migrations up to REVISION (default: head)")
    up.add_argument("revision", nargs="?", default="head")
    down = commands.add_parser("downgrade", help="revert migrations down to REVISION (e.g. base)")
    down.add_argument("revision")
    new = commands.add_parser("revision", help="autogenerate a migration from tables.py")
    new.add_argument("-m", "--message", required=True)
    arguments = parser.parse_args(argv)
    if arguments.command is None:  # plain `python -m notes_api.migrate`: upgrade to head
        arguments = parser.parse_args(["upgrade", *argv])
    return arguments


if __name__ == "__main__":
    import logging.config

    settings = Settings()
    logging.config.dictConfig(log_config(settings.log_level))
    asyncio.run(_main(parse(sys.argv[1:])))
