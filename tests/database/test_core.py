"""The service's `Database`: databases' verbs running Statements, databases' own path unchanged,
service calls that compose in one transaction, and failures in the data layer's words.

Scenarios run on a database of their own (`on_database`), on the test database: no app.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy import bindparam, func, select

from notes_api.database import (
    Database,
    DatabaseSettings,
    DatabaseUnavailableError,
    Statement,
    StatementTimeoutError,
    ValueRejectedError,
)
from notes_api.notes import service
from notes_api.notes.tables import notes
from tests.support import on_database, sql

T = TypeVar("T")

COUNT = Statement(select(func.count()).select_from(notes))
TEXTS = Statement(select(notes.c.text).order_by(notes.c.id))


class Rollback(Exception):
    """Raised to leave a transaction block: the transaction rolls back."""


async def rolled_back(database: Database, work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` in a transaction that then raises: all of it is rolled back."""
    with contextlib.suppress(Rollback):
        async with database.transaction():
            await work()
            raise Rollback


async def texts(database: Database) -> list[str]:
    return [row["text"] for row in await database.fetch_all(TEXTS)]


# -- databases' verbs, taking Statements ---------------------------------------------------------


def test_each_verb_runs_a_statement_with_its_values(notes_url: str) -> None:
    insert = Statement(notes.insert().values(text=bindparam("text")).returning(notes.c.id))
    by_text = Statement(select(notes.c.id, notes.c.text).where(notes.c.text == bindparam("text")))

    async def scenario(database: Database) -> dict[str, Any]:
        first_id = await database.execute(insert, values={"text": "one"})
        await database.execute_many(insert, values=[{"text": "two"}, {"text": "three"}])
        return {
            "execute": first_id,
            "fetch_one": dict(await database.fetch_one(by_text, values={"text": "two"}) or {}),
            "fetch_all": [dict(row) for row in await database.fetch_all(TEXTS)],
            "fetch_val": await database.fetch_val(COUNT),
            "fetch_val column": await database.fetch_val(by_text, {"text": "one"}, column="text"),
            "iterate": [row["text"] async for row in database.iterate(TEXTS)],
            "no row": await database.fetch_one(by_text, values={"text": "none"}),
        }

    assert on_database(notes_url, scenario) == {
        "execute": 1,
        "fetch_one": {"id": 2, "text": "two"},
        "fetch_all": [{"text": "one"}, {"text": "two"}, {"text": "three"}],
        "fetch_val": 3,
        "fetch_val column": "one",
        "iterate": ["one", "two", "three"],
        "no row": None,
    }


def test_databases_own_examples_work_on_the_same_database(notes_url: str) -> None:
    # The databases README's queries: raw SQL with named values, and Core clauses.
    async def scenario(database: Database) -> dict[str, Any]:
        query = "INSERT INTO notes(text, completed) VALUES (:text, :completed)"
        values = [{"text": "example1", "completed": True}, {"text": "example2", "completed": False}]
        await database.execute_many(query=query, values=values)
        await database.execute(query=notes.insert(), values={"text": "example3", "completed": True})
        rows = await database.fetch_all(
            query="SELECT * FROM notes WHERE completed = :completed", values={"completed": True}
        )
        row = await database.fetch_one(query=notes.select().where(notes.c.text == "example2"))
        return {
            "completed": [r["text"] for r in rows],
            "one": row._mapping["text"] if row is not None else None,
            "count": await database.fetch_val(query="SELECT count(*) FROM notes"),
            "iterate": [r["text"] async for r in database.iterate(query=notes.select())],
        }

    assert on_database(notes_url, scenario) == {
        "completed": ["example1", "example3"],
        "one": "example2",
        "count": 3,
        "iterate": ["example1", "example2", "example3"],
    }


def test_a_statement_refuses_missing_and_unknown_values(notes_url: str) -> None:
    async def scenario(database: Database) -> list[str]:
        messages = []
        for values in ({}, {"note_id": 1, "nid": 2}):
            with pytest.raises(TypeError) as error:
                await database.fetch_one(service.NOTE_BY_ID, values=values)
            messages.append(str(error.value))
        return messages

    missing, unknown = on_database(notes_url, scenario)
    assert "no value for 'note_id'" in missing
    assert "has no parameter 'nid'" in unknown


# -- composing service calls in transactions -----------------------------------------------------


def test_service_calls_in_a_transaction_that_raises_leave_nothing(notes_url: str) -> None:
    async def scenario(database: Database) -> list[str]:
        kept = await service.create_note(database, text="kept", completed=False)

        async def work() -> None:
            await service.create_note(database, text="rolled back", completed=False)
            await service.update_note(database, note_id=kept["id"], changes={"text": "lost"})
            await service.delete_note(database, note_id=kept["id"])

        await rolled_back(database, work)
        return await texts(database)

    assert on_database(notes_url, scenario) == ["kept"]


def test_service_calls_in_a_transaction_commit_together(notes_url: str) -> None:
    async def scenario(database: Database) -> list[str]:
        async with database.transaction():
            note = await service.create_note(database, text="draft", completed=False)
            await service.replace_note(database, note_id=note["id"], text="final", completed=True)
        return await texts(database)

    assert on_database(notes_url, scenario) == ["final"]


def test_a_nested_transaction_is_a_savepoint_its_rollback_keeps_the_outer_work(
    notes_url: str,
) -> None:
    async def scenario(database: Database) -> list[list[str]]:
        seen = []
        async with database.transaction():
            await service.create_note(database, text="outer", completed=False)

            async def inner() -> None:
                await service.create_note(database, text="inner", completed=False)
                seen.append(await texts(database))

            await rolled_back(database, inner)
            await service.create_note(database, text="outer again", completed=False)
        return [*seen, await texts(database)]

    inside, after = on_database(notes_url, scenario)
    assert inside == ["outer", "inner"]
    assert after == ["outer", "outer again"]


def test_a_concurrent_task_does_not_see_uncommitted_rows(notes_url: str) -> None:
    # Each request runs in a task of its own, as these do.
    async def scenario(database: Database) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with database.transaction():
            note = await service.create_note(database, text="uncommitted", completed=False)
            seen["inside"] = (await service.get_note(database, note_id=note["id"]))["text"]
            seen["other task"] = await asyncio.create_task(service.list_notes(database, take=10))
        seen["after commit"] = [
            row["text"] for row in await asyncio.create_task(service.list_notes(database, take=10))
        ]
        return seen

    assert on_database(notes_url, scenario) == {
        "inside": "uncommitted",
        "other task": [],
        "after commit": ["uncommitted"],
    }


def test_concurrent_transactions_never_share_a_connection(notes_url: str) -> None:
    backend_pid = Statement(select(func.pg_backend_pid()))

    async def one(database: Database) -> int:
        async with database.transaction():
            pid: int = await database.fetch_val(backend_pid)
            await asyncio.sleep(0.05)  # all of them hold their transaction at once
            assert await database.fetch_val(backend_pid) == pid
            return pid

    async def scenario(database: Database) -> list[int]:
        return await asyncio.gather(*(one(database) for _ in range(3)))

    pids = on_database(notes_url, scenario)
    assert len(set(pids)) == 3


def test_the_export_cursor_runs_in_a_transaction_of_its_own(
    notes_url: str, database_url: str
) -> None:
    async def scenario(database: Database) -> dict[str, list[str]]:
        for text in ("a", "b", "c"):
            await service.create_note(database, text=text, completed=False)
        exported: list[str] = []
        async for batch in service.iterate_notes(database, batch=1):
            if not exported:
                # Committed while the export runs: not in its snapshot.
                await asyncio.to_thread(sql, database_url, "INSERT INTO notes (text) VALUES ('d')")
            exported.extend(row["text"] for row in batch)
        inside: list[str] = []

        async def export_in_a_transaction() -> None:
            await service.create_note(database, text="e", completed=False)
            # Inside a transaction, the cursor's transaction is a savepoint of it.
            async for batch in service.iterate_notes(database, batch=2):
                inside.extend(row["text"] for row in batch)

        await rolled_back(database, export_in_a_transaction)
        return {"exported": exported, "inside": inside, "after": await texts(database)}

    assert on_database(notes_url, scenario) == {
        "exported": ["a", "b", "c"],
        "inside": ["a", "b", "c", "d", "e"],
        "after": ["a", "b", "c", "d"],
    }


def test_force_rollback_covers_the_service_writes(notes_url: str) -> None:
    # databases' documented test isolation: every write goes into one transaction, never kept.
    async def scenario() -> dict[str, Any]:
        async with Database(notes_url, force_rollback=True) as database:
            note = await service.create_note(database, text="isolated", completed=False)
            await service.update_note(database, note_id=note["id"], changes={"completed": True})
            inside = await service.list_notes(database, take=10)
        async with Database(notes_url) as database:
            after = await service.list_notes(database, take=10)
        return {"inside": [(r["text"], r["completed"]) for r in inside], "after": after}

    assert asyncio.run(scenario()) == {"inside": [("isolated", True)], "after": []}


@pytest.mark.parametrize("path", ["a Statement", "databases' own"])
def test_a_value_the_database_refuses_is_the_data_layers_error(notes_url: str, path: str) -> None:
    # errors.py answers it: every path raises the data layer's error, the driver's as its cause.
    too_long = "x" * 101

    async def scenario(database: Database) -> None:
        if path == "a Statement":
            await service.create_note(database, text=too_long, completed=False)
        else:
            await database.execute(notes.insert().values(text=too_long))

    with pytest.raises(ValueRejectedError) as raised:
        on_database(notes_url, scenario)
    assert isinstance(raised.value.__cause__, asyncpg.StringDataRightTruncationError)


# Ends, from another connection, the backend running a pg_sleep, once there is one.
KILL_THE_SLEEPER = """
    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()
"""


@pytest.mark.parametrize("verb", ["fetch_one", "fetch_all", "fetch_val", "execute", "iterate"])
def test_a_statement_the_server_drops_is_unavailable(notes_url: str, verb: str) -> None:
    # The server goes away in the middle of a statement: the data layer says so in its own
    # words, with the driver's error as the cause; the next statement gets a new connection.
    sleep = Statement(select(func.pg_sleep(5)))

    async def run(database: Database) -> None:
        if verb == "iterate":
            async for _ in database.iterate(sleep):
                pass
        else:
            await getattr(database, verb)(sleep)

    async def kill_it() -> None:
        # Polled: nothing signals that the statement has reached the server.
        while not await asyncio.to_thread(sql, notes_url, KILL_THE_SLEEPER):  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    async def scenario(database: Database) -> tuple[BaseException | None, int]:
        outcome = await asyncio.gather(run(database), kill_it(), return_exceptions=True)
        return outcome[0], await database.fetch_val(COUNT)

    error, count_after = on_database(notes_url, scenario)
    assert isinstance(error, DatabaseUnavailableError), repr(error)
    assert isinstance(error.__cause__, asyncpg.PostgresError | asyncpg.InterfaceError)
    assert count_after == 0


def test_a_statement_over_db_statement_timeout_is_cancelled_and_says_so(notes_url: str) -> None:
    # 503 for the client (errors.py); and not a reason to leave a replica (replicas.py).
    settings = DatabaseSettings(_env_file=None, database_url=notes_url, db_statement_timeout=0.2)
    options = settings.database_arguments()

    async def slow_query(database: Database) -> None:
        await database.fetch_val("SELECT pg_sleep(5)")

    started = time.monotonic()
    with pytest.raises(StatementTimeoutError) as raised:
        on_database(notes_url, slow_query, **options)
    assert time.monotonic() - started < 3
    assert isinstance(raised.value, DatabaseUnavailableError)
    assert isinstance(raised.value.__cause__, asyncpg.QueryCanceledError)


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_transaction_whose_connection_the_server_drops_gives_it_back(
    notes_url: str, ending: str
) -> None:
    """The server drops the connection inside a transaction, then the COMMIT (or the ROLLBACK
    after a failed statement) fails: the data layer says "unavailable", and the pooled connection
    goes back to the pool, which databases alone would keep forever. More transactions than the
    pool holds, then one more statement, which a leaked pool could not serve."""

    async def dropped(database: Database) -> None:
        async with database.transaction():
            await service.create_note(database, text="lost", completed=False)
            pid = await database.fetch_val("SELECT pg_backend_pid()")
            await asyncio.to_thread(sql, notes_url, "SELECT pg_terminate_backend($1)", pid)
            if ending == "rollback":
                await database.fetch_val(COUNT)

    async def scenario(database: Database) -> tuple[list[BaseException | None], int]:
        outcomes: list[BaseException | None] = []
        for _ in range(4):
            try:
                await dropped(database)
                outcomes.append(None)
            except Exception as error:
                outcomes.append(error)
        return outcomes, await database.fetch_val(COUNT)

    outcomes, count = on_database(notes_url, scenario, max_size=2, pool_timeout=2)

    assert [type(error) for error in outcomes] == [DatabaseUnavailableError] * 4, outcomes
    assert count == 0
