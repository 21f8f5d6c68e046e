"""Alembic migrations: from an empty database to head and back, and in step with notes/tables.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

import notes_api.idempotency.keys
import notes_api.notes.tables  # noqa: F401
from notes_api.database import metadata
from notes_api.database.migrations import engine_for, run
from notes_api.database.url import ConnectionTarget
from tests.support import sql, with_database


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    name = f"notes_migrate_{uuid.uuid4().hex[:12]}"
    sql(server_url, f'CREATE DATABASE "{name}"')
    yield with_database(server_url, name)
    sql(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


def target(url: str) -> ConnectionTarget:
    return ConnectionTarget.from_url(url)


def columns(url: str) -> dict[str, tuple[str, str, str | None]]:
    rows = sql(
        url,
        "SELECT column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_name = 'notes'",
    )
    return {r["column_name"]: (r["data_type"], r["is_nullable"], r["column_default"]) for r in rows}


def test_upgrade_creates_the_notes_table_from_nothing(empty_database: str) -> None:
    asyncio.run(run(target(empty_database)))

    assert columns(empty_database) == {
        "id": ("bigint", "NO", None),
        "text": ("character varying", "NO", None),
        "completed": ("boolean", "NO", "false"),
        "created_at": ("timestamp with time zone", "NO", "now()"),
        "updated_at": ("timestamp with time zone", "NO", "now()"),
        "version": ("bigint", "NO", "1"),
    }
    identity = sql(
        empty_database,
        "SELECT is_identity FROM information_schema.columns"
        " WHERE table_name = 'notes' AND column_name = 'id'",
    )
    assert identity[0][0] == "YES"
    assert sql(empty_database, "SELECT version_num FROM alembic_version")[0][0] == "0002"


def test_updated_at_and_version_are_set_by_the_database_on_any_update(
    empty_database: str,
) -> None:
    asyncio.run(run(target(empty_database)))
    sql(empty_database, "INSERT INTO notes (text) VALUES ('x')")
    before = sql(empty_database, "SELECT created_at, updated_at, version FROM notes")[0]

    sql(empty_database, "UPDATE notes SET completed = true")  # as Adminer or psql would
    sql(empty_database, "UPDATE notes SET version = 1")  # a version cannot be set back

    after = sql(empty_database, "SELECT created_at, updated_at, version FROM notes")[0]
    assert after["created_at"] == before["created_at"]
    assert after["updated_at"] > before["updated_at"]
    assert (before["version"], after["version"]) == (1, 3)


def test_0002_gives_the_notes_already_there_version_1(empty_database: str) -> None:
    asyncio.run(run(target(empty_database), "0001"))
    sql(empty_database, "INSERT INTO notes (text) SELECT 'old' FROM generate_series(1, 3)")

    asyncio.run(run(target(empty_database)))

    assert [row["version"] for row in sql(empty_database, "SELECT version FROM notes")] == [1] * 3
    asyncio.run(run(target(empty_database), "0001", downgrade=True))
    assert "version" not in columns(empty_database)
    assert sql(empty_database, "SELECT count(*) FROM notes")[0][0] == 3


def test_0002_on_a_busy_table_never_holds_up_writes_for_long(empty_database: str) -> None:
    """A long transaction reads the table while 0002 waits for its lock and a writer inserts:
    the migration gives up its place in the lock's queue every LOCK_TIMEOUT, so no insert waits
    behind it for longer than that; once the reader is done, the migration goes through."""
    asyncio.run(run(target(empty_database), "0001"))

    async def scenario() -> tuple[float, int]:
        reader = await asyncpg.connect(empty_database)
        writer = await asyncpg.connect(empty_database)
        try:
            reading = reader.transaction()
            await reading.start()
            await reader.execute("SELECT count(*) FROM notes")  # holds ACCESS SHARE until it ends
            migrating = asyncio.create_task(run(target(empty_database)))
            longest, inserts = 0.0, 0
            ends = time.monotonic() + 3
            while time.monotonic() < ends:
                started = time.monotonic()
                await writer.execute("INSERT INTO notes (text) VALUES ('during')")
                longest = max(longest, time.monotonic() - started)
                inserts += 1
                await asyncio.sleep(0.02)
            assert not migrating.done(), "0002 took its lock while the reader held the table"
            await reading.rollback()
            await asyncio.wait_for(migrating, 30)
            return longest, inserts
        finally:
            await reader.close()
            await writer.close()

    longest, inserts = asyncio.run(scenario())

    assert longest < 1.0, f"an insert waited {longest:.2f} s behind the migration"
    assert sql(empty_database, "SELECT count(*) FROM notes")[0][0] == inserts
    assert sql(empty_database, "SELECT version_num FROM alembic_version")[0][0] == "0002"


def test_downgrade_removes_everything_and_upgrade_is_repeatable(empty_database: str) -> None:
    asyncio.run(run(target(empty_database)))
    asyncio.run(run(target(empty_database), "base", downgrade=True))

    assert columns(empty_database) == {}
    assert (
        sql(empty_database, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'notes_%'")[0][0] == 0
    )

    asyncio.run(run(target(empty_database)))
    asyncio.run(run(target(empty_database)))  # a second upgrade is a no-op
    assert "id" in columns(empty_database)


def test_migrations_match_tables_py(empty_database: str) -> None:
    asyncio.run(run(target(empty_database)))

    def diff(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async def compare() -> list[Any]:
        engine = engine_for(target(empty_database))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(diff)
        finally:
            await engine.dispose()

    assert asyncio.run(compare()) == []
