"""The migrations' command line: `python -m notes_api.migrate` (`make migrate`, `make migration`).

    python -m notes_api.migrate                      # upgrade to head
    python -m notes_api.migrate downgrade <revision> # back to <revision> (`base`: empty)
    python -m notes_api.migrate revision -m "add tags"  # a migration from notes/tables.py
    python -m notes_api.migrate sql [base:head]      # their SQL, offline (what squawk lints)

On DATABASE_URL, or, unset, on the embedded PostgreSQL (started for the command, as src/main.py
starts it for the service); `sql` needs no database. The service itself migrates at start
(MIGRATE_ON_START).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import sys

from notes_api.config import Settings
from notes_api.database.migrations import new_revision, run, write_sql
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
    await run(
        target,
        arguments.revision,
        downgrade=downgrade,
        statement_cache_size=settings.db_statement_cache_size,
        text_search_config=settings.text_search_config,
    )


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m notes_api.migrate")
    commands = parser.add_subparsers(dest="command")
    up = commands.add_parser("upgrade", help="apply migrations up to REVISION (default: head)")
    up.add_argument("revision", nargs="?", default="head")
    down = commands.add_parser("downgrade", help="revert migrations down to REVISION (e.g. base)")
    down.add_argument("revision")
    new = commands.add_parser("revision", help="autogenerate a migration from notes/tables.py")
    new.add_argument("-m", "--message", required=True)
    offline = commands.add_parser("sql", help="print the SQL of the upgrades in RANGE, offline")
    offline.add_argument("range", nargs="?", default="base:head")
    arguments = parser.parse_args(argv)
    if arguments.command is None:  # plain `python -m notes_api.migrate`: upgrade to head
        arguments = parser.parse_args(["upgrade", *argv])
    return arguments


def main(argv: list[str]) -> None:
    arguments = parse(argv)
    settings = Settings()
    if arguments.command == "sql":
        write_sql(arguments.range, text_search_config=settings.text_search_config)
        return
    logging.config.dictConfig(log_config(settings.log_level, log_format=settings.log_format))
    with database_or_embedded(settings) as on_database:
        asyncio.run(migrate(on_database, arguments))


if __name__ == "__main__":
    main(sys.argv[1:])
