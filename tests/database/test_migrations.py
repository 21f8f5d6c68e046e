"""Alembic migrations: from an empty database to head and back, and in step with notes/tables.py."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

import notes_api.idempotency.keys  # noqa: F401
from notes_api.database import metadata
from notes_api.database.migrations import engine_for, run
from notes_api.database.url import ConnectionTarget
from notes_api.notes.tables import UNDECLARED_INDEXES
from tests.support import sql, with_database


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    name = f"notes_migrate_{uuid.uuid4().hex[:12]}"
    sql(server_url, f'CREATE DATABASE "{name}"')
    yield with_database(server_url, name)
    sql(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


HEAD = "0003"
SEARCH_INDEX = "ix_notes_text_search"


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
    assert sql(empty_database, "SELECT version_num FROM alembic_version")[0][0] == HEAD


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


def inserting_while_held(
    url: str, statement: str, *, end: Literal["commit", "rollback"], because: str
) -> tuple[float, int]:
    """Migrate `url` to head while a transaction that ran `statement` stays open, inserting on
    another connection for 3 s meanwhile; check the migration is still waiting (else fail with
    `because`), then end that transaction and let the migration finish. The longest insert's
    seconds, and how many went in."""

    async def scenario() -> tuple[float, int]:
        holder = await asyncpg.connect(url)
        writer = await asyncpg.connect(url)
        try:
            holding = holder.transaction()
            await holding.start()
            await holder.execute(statement)
            migrating = asyncio.create_task(run(target(url)))
            longest, inserts = 0.0, 0
            ends = time.monotonic() + 3
            while time.monotonic() < ends:
                started = time.monotonic()
                await writer.execute("INSERT INTO notes (text) VALUES ('during')")
                longest = max(longest, time.monotonic() - started)
                inserts += 1
                await asyncio.sleep(0.02)
            assert not migrating.done(), because
            await (holding.commit() if end == "commit" else holding.rollback())
            await asyncio.wait_for(migrating, 30)
            return longest, inserts
        finally:
            await holder.close()
            await writer.close()

    return asyncio.run(scenario())


def test_0002_on_a_busy_table_never_holds_up_writes_for_long(empty_database: str) -> None:
    """A long transaction reads the table while 0002 waits for its lock and a writer inserts:
    the migration gives up its place in the lock's queue every LOCK_TIMEOUT, so no insert waits
    behind it for longer than that; once the reader is done, the migration goes through."""
    asyncio.run(run(target(empty_database), "0001"))

    longest, inserts = inserting_while_held(
        empty_database,
        "SELECT count(*) FROM notes",  # holds ACCESS SHARE until it ends
        end="rollback",
        because="0002 took its lock while the reader held the table",
    )

    assert longest < 1.0, f"an insert waited {longest:.2f} s behind the migration"
    assert sql(empty_database, "SELECT count(*) FROM notes")[0][0] == inserts
    assert sql(empty_database, "SELECT version_num FROM alembic_version")[0][0] == HEAD


def search_index(url: str) -> tuple[str, bool] | None:
    """The search index's definition, and whether it is valid (usable); None if there is none."""
    rows = sql(
        url,
        "SELECT pg_get_indexdef(indexrelid), indisvalid FROM pg_index"
        " WHERE indexrelid = to_regclass($1)",
        SEARCH_INDEX,
    )
    return (rows[0][0], rows[0][1]) if rows else None


def test_0003_builds_the_search_index_with_the_configured_text_search_config(
    empty_database: str,
) -> None:
    asyncio.run(run(target(empty_database), "0002"))
    assert search_index(empty_database) is None

    asyncio.run(run(target(empty_database), text_search_config="english"))

    assert search_index(empty_database) == (
        f"CREATE INDEX {SEARCH_INDEX} ON public.notes"
        " USING gin (to_tsvector('english'::regconfig, (text)::text))",
        True,
    )
    asyncio.run(run(target(empty_database), "0002", downgrade=True))
    assert search_index(empty_database) is None


def migrate_command(url: str, *arguments: str, **settings: str) -> str:
    """`python -m notes_api.migrate ...` as a user runs it; its output."""
    environment = os.environ | {"DATABASE_URL": url} | settings
    result = subprocess.run(
        [sys.executable, "-m", "notes_api.migrate", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_search_index_is_rebuilt_for_another_text_search_config(empty_database: str) -> None:
    """docs/database.md, "Full-text search": the two commands that change TEXT_SEARCH_CONFIG."""
    migrate_command(empty_database)
    assert "'simple'::regconfig" in (search_index(empty_database) or ("",))[0]

    migrate_command(empty_database, "downgrade", "0002", TEXT_SEARCH_CONFIG="english")
    migrate_command(empty_database, TEXT_SEARCH_CONFIG="english")

    assert "'english'::regconfig" in (search_index(empty_database) or ("",))[0]


def test_the_migrations_sql_is_written_offline() -> None:
    """What `make check` gives squawk: the SQL of the migrations, with no database at all."""
    written = migrate_command("postgresql://nobody@127.0.0.1:1/none", "sql", "0001:head")

    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_notes_text_search ON notes USING gin" in (
        written
    )
    assert "SET LOCAL lock_timeout = '500ms';\n\nALTER TABLE notes ADD COLUMN version" in written
    assert "UPDATE alembic_version SET version_num='0003'" in written


def test_0003_rebuilds_an_invalid_index_left_by_an_interrupted_run(empty_database: str) -> None:
    """A CREATE INDEX CONCURRENTLY that fails leaves its index behind, invalid: kept up to date by
    every write and never used. `IF NOT EXISTS` alone would keep it so; 0003 drops it first."""
    asyncio.run(run(target(empty_database), "0002"))
    sql(empty_database, "INSERT INTO notes (text) VALUES ('twice'), ('twice')")
    with pytest.raises(asyncpg.UniqueViolationError):  # the build fails halfway
        sql(empty_database, f"CREATE UNIQUE INDEX CONCURRENTLY {SEARCH_INDEX} ON notes (text)")
    assert search_index(empty_database) == (
        f"CREATE UNIQUE INDEX {SEARCH_INDEX} ON public.notes USING btree (text)",
        False,
    )

    asyncio.run(run(target(empty_database)))

    definition, valid = search_index(empty_database) or ("", False)
    assert "USING gin (to_tsvector('simple'::regconfig, (text)::text))" in definition
    assert valid


def test_processes_migrating_together_take_turns(empty_database: str) -> None:
    """Workers starting together: one migrates (building the index CONCURRENTLY, outside any
    transaction), the others wait for its lock, then find nothing left to do."""

    async def together() -> None:
        await asyncio.gather(*(run(target(empty_database)) for _ in range(3)))

    asyncio.run(together())

    assert sql(empty_database, "SELECT version_num FROM alembic_version")[0][0] == HEAD
    assert search_index(empty_database) is not None
    assert sql(empty_database, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [
        (0,)
    ]


def test_0003_on_a_busy_table_never_holds_up_writes(empty_database: str) -> None:
    """CREATE INDEX CONCURRENTLY waits for the transactions writing to the table to end; a long
    one holds the migration up, but no insert: they go on meanwhile. (A plain CREATE INDEX would
    queue behind the long transaction, and every insert behind it: 3 s here.)"""
    asyncio.run(run(target(empty_database), "0002"))

    longest, inserts = inserting_while_held(
        empty_database,
        "INSERT INTO notes (text) VALUES ('long')",  # not committed until the end
        end="commit",
        because="the index was built while a write was not committed",
    )

    assert longest < 1.0, f"an insert waited {longest:.2f} s behind the migration"
    assert sql(empty_database, "SELECT count(*) FROM notes")[0][0] == inserts + 1
    assert search_index(empty_database) == (
        f"CREATE INDEX {SEARCH_INDEX} ON public.notes"
        " USING gin (to_tsvector('simple'::regconfig, (text)::text))",
        True,
    )


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

    def declared(item: object, name: str | None, kind: str, *_: object) -> bool:
        return not (kind == "index" and name in UNDECLARED_INDEXES)  # as env.py's

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"include_object": declared})
        return list(compare_metadata(context, metadata))

    async def compare() -> list[Any]:
        engine = engine_for(target(empty_database))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(diff)
        finally:
            await engine.dispose()

    assert asyncio.run(compare()) == []


MILLION = 1_000_000
WRITERS = 4


def test_migrating_a_million_notes_to_head_never_stops_writes(
    empty_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A table at revision 0001 with 1,000,000 notes, migrated to head (0002 adds a column, 0003
    builds the search index) while WRITERS connections insert as fast as they can: no insert fails,
    none waits a second. The figures go in docs/database.md ("Changing the schema of a live
    table")."""
    asyncio.run(run(target(empty_database), "0001"))
    sql(
        empty_database,
        "INSERT INTO notes (text, completed)"
        " SELECT 'Seeded note ' || i, i % 3 = 0 FROM generate_series(1, $1) AS i",
        MILLION,
    )
    sql(empty_database, "VACUUM ANALYZE notes")

    async def scenario() -> tuple[float, list[float], list[BaseException]]:
        done = asyncio.Event()
        waits: list[float] = []
        failures: list[BaseException] = []

        async def write() -> None:
            connection = await asyncpg.connect(empty_database)
            try:
                while not done.is_set():
                    started = time.monotonic()
                    try:
                        await connection.execute("INSERT INTO notes (text) VALUES ('during')")
                    except Exception as error:  # any failure counts
                        failures.append(error)
                    waits.append(time.monotonic() - started)
            finally:
                await connection.close()

        writers = [asyncio.create_task(write()) for _ in range(WRITERS)]
        await asyncio.sleep(0.5)  # the writers are writing
        started = time.monotonic()
        await run(target(empty_database))
        migrating = time.monotonic() - started
        await asyncio.sleep(0.5)
        done.set()
        await asyncio.gather(*writers)
        return migrating, waits, failures

    migrating, waits, failures = asyncio.run(scenario())

    waits.sort()
    with capsys.disabled():
        print(
            f"\n1M notes, 0001 -> {HEAD} under {WRITERS} writers: migration {migrating:.1f} s;"
            f" {len(waits)} inserts, median {waits[len(waits) // 2] * 1000:.1f} ms,"
            f" p99 {waits[len(waits) * 99 // 100] * 1000:.1f} ms, longest {waits[-1] * 1000:.0f} ms"
        )
    assert failures == []
    assert waits[-1] < 1.0, f"an insert waited {waits[-1]:.2f} s"
    assert sql(empty_database, "SELECT count(*) FROM notes")[0][0] == MILLION + len(waits)
    assert search_index(empty_database) is not None
    assert sql(empty_database, "SELECT version_num FROM alembic_version")[0][0] == HEAD


def test_squawk_passes_the_migrations_and_catches_a_blocking_index(tmp_path: Path) -> None:
    """`make check`'s linter, on the SQL of the migrations since 0002, and on the plain
    CREATE INDEX it exists to catch (it would block every write while it builds)."""
    squawk = Path(sys.executable).with_name("squawk")
    written = tmp_path / "migrations.sql"
    written.write_text(migrate_command("postgresql://nobody@127.0.0.1:1/none", "sql", "0002:head"))
    blocking = tmp_path / "blocking.sql"
    blocking.write_text("CREATE INDEX ix_notes_text ON notes (text);\n")

    def lint(path: Path) -> subprocess.CompletedProcess[str]:
        command = [str(squawk), "--pg-version", "15", str(path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert lint(written).returncode == 0, lint(written).stdout
    caught = lint(blocking)
    assert caught.returncode != 0
    assert "require-concurrent-index-creation" in caught.stdout
