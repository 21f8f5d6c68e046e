"""The migrations' command line: `python -m notes_api.migrate` (`make migrate`, `make migration`).

    python -m notes_api.migrate                      # upgrade to head
    python -m notes_api.migrate downgrade <revision> # back to <revision> (`base`: empty)
    python -m notes_api.migrate revision -m "add tags"  # a migration from notes/tables.py

On DATABASE_URL, or, unset, on the embedded PostgreSQL (started for the command, as src/main.py
starts it for the service). The service itself migrates at start (MIGRATE_ON_START).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import sys

from notes_api.config import Settings
from notes_api.database.migrations import new_revision, run
from notes_api.development.database import database_or_embedded
from notes_api.serving.logs import log_config

logger = logging.getLogger(__name__)


async def migrate(settings: Settings, arguments: argparse.Namespace) -> None:
    target = settings.database_target()
    if arguments.command == "revision":
        await new_revision(target, arguments.message)
        return
    logger.info("Migrating %s to %s", target.masked_url, arguments.revision)
    downgrade = arguments.command == "downgrade"
    cache = settings.db_statement_cache_size
    await run(target, arguments.revision, downgrade=downgrade, statement_cache_size=cache)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m notes_api.migrate")
    commands = parser.add_subparsers(dest="command")
    up = commands.add_parser("upgrade", help="apply migrations up to REVISION (default: head)")
    up.add_argument("revision", nargs="?", default="head")
    down = commands.add_parser("downgrade", help="revert migrations down to REVISION (e.g. base)")
    down.add_argument("revision")
    new = commands.add_parser("revision", help="autogenerate a migration from notes/tables.py")
    new.add_argument("-m", "--message", required=True)
    arguments = parser.parse_args(argv)
    if arguments.command is None:  # plain `python -m notes_api.migrate`: upgrade to head
        arguments = parser.parse_args(["upgrade", *argv])
    return arguments


def main(argv: list[str]) -> None:
    arguments = parse(argv)
    settings = Settings()
    logging.config.dictConfig(log_config(settings.log_level, log_format=settings.log_format))
    with database_or_embedded(settings) as on_database:
        asyncio.run(migrate(on_database, arguments))


if __name__ == "__main__":
    main(sys.argv[1:])
