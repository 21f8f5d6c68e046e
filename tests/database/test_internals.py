"""Each reach into a private part of `databases` or asyncpg (internals.py) still finds what it
relies on.

databases 0.9.0 is its last release; should a new one (or a SQLAlchemy it must follow) move one
of these, the test names which, instead of requests failing. docs/database.md says what to do.
"""

from __future__ import annotations

import asyncio
import socket

import asyncpg
from databases.backends.postgres import PostgresBackend, PostgresConnection
from databases.core import Connection

from notes_api.database import Database, internals
from notes_api.database.pool import Pool


def test_postgres_backend_makes_its_dialect_and_connections_run_on_connection() -> None:
    backend = PostgresBackend("postgresql://u@h/db")
    connection = PostgresConnection(backend, backend._dialect)

    assert backend._dialect.name == "postgresql"  # Backend.connection() hands it on
    assert connection._connection is None  # BackendConnection.acquire() sets it


def test_a_database_keeps_the_backend_it_made_from_supported_backends(database_url: str) -> None:
    async def scenario() -> Pool:
        async with Database(database_url, min_size=1) as database:
            return internals.pool_of(database)

    assert isinstance(asyncio.run(scenario()), Pool)


def test_a_task_inside_a_transaction_is_found_with_its_connection(database_url: str) -> None:
    async def scenario() -> dict[str, object]:
        async with Database(database_url, min_size=1) as database:
            found: dict[str, object] = {"outside": internals.task_connection(database)}
            async with database.transaction():
                held = internals.task_connection(database)
                found["inside is databases' own"] = held is database.connection()
                found["query lock"] = isinstance(getattr(held, "_query_lock", None), asyncio.Lock)
                found["other task"] = await asyncio.create_task(_task_connection_of(database))
            found["after"] = internals.task_connection(database)
            return found

    assert asyncio.run(scenario()) == {
        "outside": None,
        "inside is databases' own": True,
        "query lock": True,
        "other task": None,
        "after": None,
    }


async def _task_connection_of(database: Database) -> Connection | None:
    return internals.task_connection(database)


def test_force_rollbacks_one_connection_is_found_from_every_task(database_url: str) -> None:
    async def scenario() -> bool:
        async with Database(database_url, min_size=1, force_rollback=True) as database:
            here = internals.task_connection(database)
            there = await asyncio.create_task(_task_connection_of(database))
            return here is not None and here is there

    assert asyncio.run(scenario()) is True


def test_an_asyncpg_connection_shows_its_socket(database_url: str) -> None:
    # connector.py sets TCP options on it (TCP_USER_TIMEOUT, keepalives).
    async def family() -> int:
        connection = await asyncpg.connect(database_url)
        try:
            sock = internals.socket_of(connection)
            assert sock is not None
            return int(sock.family)
        finally:
            await connection.close()

    assert asyncio.run(family()) in (socket.AF_INET, socket.AF_INET6)
