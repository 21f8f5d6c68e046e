"""Alembic migrations: from an empty database to head and back, and in step with notes/tables.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from notes_api.database.migrations import engine_for, run
from notes_api.database.url import ConnectionTarget
from notes_api.notes.tables import metadata
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
    }
    identity = sql(
        empty_database,
        "SELECT is_identity FROM information_schema.columns"
        " WHERE table_name = 'notes' AND column_name = 'id'",
    )
    assert identity[0][0] == "YES"
    assert sql(empty_database, "SELECT version_num FROM alembic_version")[0][0] == "0001"


def test_updated_at_is_set_by_the_database_on_any_update(empty_database: str) -> None:
    asyncio.run(run(target(empty_database)))
    sql(empty_database, "INSERT INTO notes (text) VALUES ('x')")
    before = sql(empty_database, "SELECT created_at, updated_at FROM notes")[0]

    sql(empty_database, "UPDATE notes SET completed = true")  # as Adminer or psql would

    after = sql(empty_database, "SELECT created_at, updated_at FROM notes")[0]
    assert after["created_at"] == before["created_at"]
    assert after["updated_at"] > before["updated_at"]


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
