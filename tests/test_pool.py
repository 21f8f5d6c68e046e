"""The pool behind `database.lease()`: what a connection carries back into it, and how long a
request waits for one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from notes_api.config import Settings
from notes_api.database import ConnectionTarget, PooledDatabase, TimedPostgresBackend
from tests.support import sql


def one_connection(database_url: str, **options: Any) -> PooledDatabase:
    """A database whose pool holds a single connection, so each lease gets the previous one's."""
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        db_pool_min_size=1,
        db_pool_max_size=1,
        **options,
    )
    return ConnectionTarget.from_url(database_url, settings).database()


def run(database: PooledDatabase, scenario: Callable[[PooledDatabase], Awaitable[Any]]) -> Any:
    async def connected() -> Any:
        await database.connect()
        try:
            return await scenario(database)
        finally:
            await database.disconnect()

    return asyncio.run(connected())


def test_a_transaction_left_open_is_rolled_back_when_the_connection_returns(
    database_url: str, clean_notes: None
) -> None:
    async def scenario(database: PooledDatabase) -> bool:
        async with database.lease() as connection:
            await connection.execute("BEGIN")
            await connection.execute("INSERT INTO notes (text) VALUES ('never committed')")
        async with database.lease() as connection:
            in_transaction: bool = connection.is_in_transaction()
        return in_transaction

    assert run(one_connection(database_url), scenario) is False
    assert sql(database_url, "SELECT count(*) FROM notes") == [(0,)]


async def set_then_show(database: PooledDatabase) -> str:
    async with database.lease() as connection:
        await connection.execute("SET application_name = 'left behind'")
    async with database.lease() as connection:
        name: str = await connection.fetchval("SHOW application_name")
    return name


def test_session_state_is_kept_without_db_reset_session(database_url: str) -> None:
    # The service sets no session state, so by default nothing is reset (one round trip saved
    # per request); this is what code that does set some would see.
    assert run(one_connection(database_url), set_then_show) == "left behind"


def test_db_reset_session_resets_the_session_on_return(database_url: str) -> None:
    database = one_connection(database_url, db_reset_session=True)

    assert run(database, set_then_show) == ""


def test_a_lease_waits_at_most_db_pool_timeout_when_every_connection_is_busy(
    database_url: str,
) -> None:
    async def scenario(database: PooledDatabase) -> float:
        async with database.lease():
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                async with database.lease():
                    pass
            return time.monotonic() - started

    waited = run(one_connection(database_url, db_pool_timeout=0.3), scenario)

    assert 0.3 <= waited < 1.5


def test_an_idle_connection_is_leased_at_once_and_used_again(database_url: str) -> None:
    async def scenario(database: PooledDatabase) -> list[int]:
        pids = []
        for _ in range(3):
            async with database.lease() as connection:
                pids.append(connection.get_server_pid())
        return pids

    pids = run(one_connection(database_url, db_pool_timeout=0.3), scenario)

    assert len(set(pids)) == 1


def test_a_connection_coming_back_goes_to_the_lease_that_waited_longest(
    database_url: str,
) -> None:
    async def scenario(database: PooledDatabase) -> list[str]:
        order: list[str] = []

        async def waiting() -> None:
            async with database.lease():
                order.append("waiting")

        async def newcomer() -> None:
            # Arrives the moment the connection is back in the pool, before the lease that has
            # been waiting for it runs again (as a request does under load).
            backend = database._backend
            assert isinstance(backend, TimedPostgresBackend)
            assert backend._pool is not None
            # Polled at every turn of the loop: nothing signals a connection's return.
            while backend._pool.get_idle_size() == 0:  # noqa: ASYNC110
                await asyncio.sleep(0)
            async with database.lease():
                order.append("newcomer")

        holder = database.lease()
        await holder.__aenter__()
        first = asyncio.create_task(waiting())
        await asyncio.sleep(0.05)
        second = asyncio.create_task(newcomer())
        await asyncio.sleep(0.05)
        await holder.__aexit__(None, None, None)
        await asyncio.gather(first, second)
        return order

    assert run(one_connection(database_url), scenario) == ["waiting", "newcomer"]
