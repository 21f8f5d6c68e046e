"""The data layer: encode's `databases` with Core statements compiled once, and what a service on
PostgreSQL needs beneath it. Skip this folder on a first read: what the notes use is named here.

    async with open_database(settings) as database:  # DatabaseSettings: DATABASE_URL, DB_*...
        note = await database.fetch_one(NOTE_BY_ID, values={"note_id": 7})

- core.py        Database: databases.Database whose verbs also run Statements
- statements.py  Statement: a Core statement compiled once
- metadata.py    the MetaData every table is defined on
- errors.py      its failures in its own words (unavailable, read-only, a value refused)
- settings.py    DATABASE_URL and the DB_* settings, part of the service's Settings
- opening.py     the service's database opened as its settings say: migrated, connected
- migrations.py  Alembic driven from code (the migrations are in notes_api/migrations/)
- url.py         DATABASE_URL read once into asyncpg's options (sslmode, several hosts)
- connector.py   opening a connection: each host in turn, within DB_CONNECT_TIMEOUT
- pool.py        waiting for a connection: in line, at most DB_POOL_TIMEOUT
- replicas.py    reads from the replicas, falling back to the primary
- internals.py   every reach into databases' and asyncpg's private parts

It never imports the web framework, and never starts a server (`make check` holds both).
"""

from notes_api.database.core import Database
from notes_api.database.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    ReadOnlyError,
    StatementTimeoutError,
    ValueRejectedError,
)
from notes_api.database.metadata import metadata
from notes_api.database.opening import check_connection, open_database, open_read_database
from notes_api.database.settings import DatabaseSettings
from notes_api.database.statements import Row, Statement
from notes_api.database.url import ConnectionTarget

__all__ = [
    "ConnectionTarget",
    "Database",
    "DatabaseError",
    "DatabaseSettings",
    "DatabaseUnavailableError",
    "ReadOnlyError",
    "Row",
    "Statement",
    "StatementTimeoutError",
    "ValueRejectedError",
    "check_connection",
    "metadata",
    "open_database",
    "open_read_database",
]
