"""The pool (database/pool.py): one line for every path to a connection, bounded by DB_POOL_TIMEOUT,
first come first served; and what a connection carries back into it.

Scenarios run on a database of their own (`on_database`) whose pool holds one connection: no app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from notes_api.config import Settings
from notes_api.database import Database, DatabaseUnavailableError
from notes_api.health import SERVER_ADDRESS
from notes_api.notes import service
from tests.support import on_database, sql


def one_connection(**settings: Any) -> dict[str, Any]:
    """`Database` options, as the service reads them from its settings, for a pool that holds a
    single connection: each user gets the previous one's."""
    read = Settings(_env_file=None, db_pool_min_size=1, db_pool_max_size=1, **settings)
    return read.database_arguments()


# Every way the service takes a connection: a Statement, databases' own verbs, a transaction, a
# connection block, the export's cursor, /ready's question.
@asynccontextmanager
async def by_statement(database: Database) -> AsyncIterator[None]:
    await service.list_notes(database, take=1)
    yield


@asynccontextmanager
async def by_databases_path(database: Database) -> AsyncIterator[None]:
    await database.fetch_val("SELECT 1")
    yield


@asynccontextmanager
async def by_transaction(database: Database) -> AsyncIterator[None]:
    async with database.transaction():
        yield


@asynccontextmanager
async def by_connection(database: Database) -> AsyncIterator[None]:
    async with database.connection():
        yield


@asynccontextmanager
async def by_export(database: Database) -> AsyncIterator[None]:
    async for _ in service.iterate_notes(database, batch=10):
        pass
    yield


@asynccontextmanager
async def by_ready(database: Database) -> AsyncIterator[None]:
    await database.fetch_val(SERVER_ADDRESS)
    yield


PATHS: dict[str, Callable[[Database], AbstractAsyncContextManager[None]]] = {
    "statement": by_statement,
    "databases' path": by_databases_path,
    "transaction": by_transaction,
    "connection": by_connection,
    "export": by_export,
    "ready": by_ready,
}


@pytest.mark.parametrize("path", PATHS)
def test_every_path_waits_at_most_db_pool_timeout_when_every_connection_is_busy(
    notes_url: str, path: str
) -> None:
    async def scenario(database: Database) -> float:
        async with database.connection():  # the pool's only connection, held by this task
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailableError) as raised:
                await asyncio.create_task(use(database, path))
            assert isinstance(raised.value.__cause__, TimeoutError)
            return time.monotonic() - started

    waited = on_database(notes_url, scenario, **one_connection(db_pool_timeout=0.3))

    assert 0.3 <= waited < 1.5


async def use(database: Database, path: str) -> None:
    async with PATHS[path](database):
        pass


@pytest.mark.parametrize(
    ("waiting", "newcomer"),
    [("statement", "transaction"), ("transaction", "statement"), ("databases' path", "statement")],
)
def test_a_connection_coming_back_goes_to_the_one_that_waited_longest(
    notes_url: str, waiting: str, newcomer: str
) -> None:
    async def scenario(database: Database) -> list[str]:
        order: list[str] = []

        async def wait_in_line() -> None:
            await use(database, waiting)
            order.append("waiting")

        async def arrive_late() -> None:
            # Arrives the moment the connection is back in the pool, before the one that has
            # been waiting for it runs again (as a request does under load). Polled at every turn
            # of the loop: nothing signals a connection's return.
            assert database.pool is not None
            while database.pool._pool.get_idle_size() == 0:  # noqa: ASYNC110
                await asyncio.sleep(0)
            await use(database, newcomer)
            order.append("newcomer")

        holder = database.connection()
        await holder.__aenter__()
        first = asyncio.create_task(wait_in_line())
        await asyncio.sleep(0.05)
        second = asyncio.create_task(arrive_late())
        await asyncio.sleep(0.05)
        await holder.__aexit__()
        await asyncio.gather(first, second)
        return order

    assert on_database(notes_url, scenario, **one_connection()) == ["waiting", "newcomer"]


def test_an_idle_connection_is_used_again(database_url: str) -> None:
    async def scenario(database: Database) -> list[int]:
        return [await database.fetch_val("SELECT pg_backend_pid()") for _ in range(3)]

    pids = on_database(database_url, scenario, **one_connection())

    assert len(set(pids)) == 1


def test_a_transaction_left_open_is_rolled_back_when_the_connection_returns(
    notes_url: str,
) -> None:
    async def scenario(database: Database) -> dict[str, Any]:
        async with database.connection() as connection:
            await connection.raw_connection.execute("BEGIN")
            await connection.raw_connection.execute(
                "INSERT INTO notes (text) VALUES ('never committed')"
            )
        async with database.connection() as connection:  # the same one, back from the pool
            return {
                "in a transaction": connection.raw_connection.is_in_transaction(),
                "notes it sees": await connection.raw_connection.fetchval(
                    "SELECT count(*) FROM notes"
                ),
            }

    assert on_database(notes_url, scenario, **one_connection()) == {
        "in a transaction": False,
        "notes it sees": 0,
    }
    assert sql(notes_url, "SELECT count(*) FROM notes") == [(0,)]


async def set_then_show(database: Database) -> str:
    await database.execute("SET application_name = 'left behind'")
    name: str = await database.fetch_val("SHOW application_name")
    return name


def test_session_state_is_kept_without_db_reset_session(database_url: str) -> None:
    # The service sets no session state, so by default nothing is reset (one round trip saved
    # per request); this is what code that does set some would see.
    assert on_database(database_url, set_then_show, **one_connection()) == "left behind"


def test_db_reset_session_resets_the_session_on_return(database_url: str) -> None:
    options = one_connection(db_reset_session=True)

    assert on_database(database_url, set_then_show, **options) == ""
