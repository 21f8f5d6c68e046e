"""Each reach into a private part of `databases` or asyncpg (database/internals.py lists them)
still finds what it relies on: one test per reach, named after it.

databases 0.9.0 is its last release; should a new one (or a SQLAlchemy or asyncpg it must follow)
move one of these, the test names which, instead of requests failing or a safety feature turning
itself off in silence. docs/database.md says what to do then.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
from typing import Any

import asyncpg
import databases
import pytest
from databases.backends.postgres import PostgresBackend, PostgresConnection
from databases.core import Connection, Transaction

from notes_api.database import Database, internals
from notes_api.database.pool import Pool
from tests.support import on_database

URL = "postgresql://user@host/db"


# -- databases ------------------------------------------------------------------------------------


def test_databases_builds_the_backend_from_supported_backends() -> None:
    database = Database(URL)

    assert Database.SUPPORTED_BACKENDS["postgresql"] == internals.BACKEND
    assert isinstance(database._backend, internals.Backend)


def test_databases_hands_the_databases_options_to_the_backend() -> None:
    database = Database(URL, pool_timeout=1.5, connect_timeout=2.5, min_size=3, max_size=4)

    backend = database._backend
    assert isinstance(backend, internals.Backend)
    assert backend.pool_timeout == 1.5
    assert backend.connector.timeout == 2.5  # type: ignore[attr-defined]
    assert backend.pool_options == {"min_size": 3, "max_size": 4}


def test_databases_postgres_backend_has__dialect() -> None:
    backend = PostgresBackend(URL)

    assert backend._dialect.name == "postgresql"
    assert backend._dialect.paramstyle == "pyformat"  # what databases compiles its own queries to


def test_databases_postgres_connection_runs_on__connection_of__database() -> None:
    backend = internals.Backend(URL, connector=asyncpg.connect, pool_timeout=1)
    connection = backend.connection()

    assert isinstance(connection, PostgresConnection)
    assert connection._database is backend
    assert connection._connection is None  # BackendConnection.acquire() sets it


def test_databases_database_keeps__backend_whose_pool_is_ours(notes_url: str) -> None:
    async def scenario(database: Database) -> Pool:
        return internals.pool_of(database)

    assert isinstance(on_database(notes_url, scenario), Pool)


def test_databases__connection_map_holds_a_tasks_connection_inside_a_transaction(
    notes_url: str,
) -> None:
    async def scenario(database: Database) -> dict[str, Any]:
        found: dict[str, Any] = {"outside": internals.task_connection(database)}
        async with database.transaction():
            held = internals.task_connection(database)
            found["inside, databases' own"] = held is database.connection()
            found["another task"] = await asyncio.create_task(task_connection_of(database))
        found["after"] = internals.task_connection(database)
        return found

    assert on_database(notes_url, scenario) == {
        "outside": None,
        "inside, databases' own": True,
        "another task": None,
        "after": None,
    }


async def task_connection_of(database: Database) -> Connection | None:
    return internals.task_connection(database)


def test_databases__global_connection_is_force_rollbacks_for_every_task(notes_url: str) -> None:
    async def scenario(database: Database) -> tuple[Any, Any]:
        return internals.task_connection(database), await asyncio.create_task(
            task_connection_of(database)
        )

    here, there = on_database(notes_url, scenario, force_rollback=True)
    assert isinstance(here, Connection)
    assert here is there


def test_databases_connection_has__query_lock() -> None:
    connection = Connection(databases.Database(URL), PostgresBackend(URL))

    assert isinstance(connection._query_lock, asyncio.Lock)


def test_databases_transaction_is_made_from_a_connection_callable_and_force_rollback() -> None:
    parameters = inspect.signature(Transaction).parameters

    assert list(parameters)[:2] == ["connection_callable", "force_rollback"]
    assert parameters["kwargs"].kind is inspect.Parameter.VAR_KEYWORD
    assert isinstance(Database(URL).transaction(), Transaction)


def test_databases_transaction_begins_and_ends_through__connection__transaction__extra_options_and_the_connections__connection__transaction_lock__transaction_stack(  # noqa: E501
    notes_url: str,
) -> None:
    # internals.begin and internals.end do what databases' Transaction.start, commit and
    # rollback do, with these names; their source is read to find each still there.
    source = inspect.getsource(Transaction)
    for name in ("self._connection._connection.transaction()", "self._extra_options",
                 "self._connection._transaction_lock", "self._connection._transaction_stack",
                 "self._connection.__aenter__()", "self._connection.__aexit__()"):  # fmt: skip
        assert name in source, name

    async def scenario(database: Database) -> tuple[int, int, int]:
        transaction = database.transaction()
        await internals.begin(transaction)
        connection = transaction._connection
        inside = (len(connection._transaction_stack), connection._connection_counter)
        await internals.end(transaction, commit=True)
        return *inside, connection._connection_counter

    assert on_database(notes_url, scenario) == (1, 1, 0)


def test_asyncpg_pool_proxy_of_a_released_connection_refuses_is_closed(notes_url: str) -> None:
    # internals.lost: a connection the server dropped is taken back by asyncpg's pool, and its
    # proxy refuses every call.
    async def scenario() -> None:
        pool = await asyncpg.create_pool(notes_url, min_size=1, max_size=1)
        try:
            proxy = await pool.acquire()
            await pool.release(proxy)
            with pytest.raises(asyncpg.InterfaceError, match="released back to the pool"):
                proxy.is_closed()
            assert internals.lost(proxy)
        finally:
            await pool.close()

    asyncio.run(scenario())


# -- asyncpg --------------------------------------------------------------------------------------


def test_asyncpg_connection__transport_is_the_socket_under_it(notes_url: str) -> None:
    # connector.py sets TCP options on it (TCP_USER_TIMEOUT, keepalives).
    async def family() -> int:
        connection = await asyncpg.connect(notes_url)
        try:
            sock = internals.socket_of(connection)
            assert sock is not None
            return int(sock.family)
        finally:
            await connection.close()

    assert asyncio.run(family()) in (socket.AF_INET, socket.AF_INET6)


def test_asyncpg_connection_without__transport_is_refused_loudly() -> None:
    # Silently skipped, the connector's bound on a silent server would be gone.
    class Connection:
        pass

    with pytest.raises(RuntimeError, match="_transport"):
        internals.socket_of(Connection())
