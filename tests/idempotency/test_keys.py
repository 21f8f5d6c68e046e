"""The idempotency_keys table: expired keys removed a batch at a time, never waiting on a key in
use, by a task the app's lifespan runs."""

from __future__ import annotations

import asyncio

import asyncpg

from notes_api.database import Database
from notes_api.idempotency import keys
from notes_api.idempotency.keys import remove_expired, removing_expired
from tests.support import on_database, sql

ADD = (
    "INSERT INTO idempotency_keys (key, fingerprint, status, headers, body, created_at)"
    " SELECT 'k' || i, '', 200, '{}', '', now() - $1 * interval '1 second'"
    " FROM generate_series(1, $2) i"
)


def add_keys(url: str, count: int, *, age: float, prefix: str = "k") -> None:
    sql(url, ADD.replace("'k'", f"'{prefix}'"), age, count)


def keys_left(url: str) -> list[str]:
    return [row["key"] for row in sql(url, "SELECT key FROM idempotency_keys ORDER BY key")]


def test_remove_expired_removes_only_keys_older_than_the_ttl(notes_url: str) -> None:
    add_keys(notes_url, 3, age=120, prefix="old")
    add_keys(notes_url, 2, age=10, prefix="new")

    removed = on_database(notes_url, lambda database: remove_expired(database, ttl=60))

    assert removed == 3
    assert keys_left(notes_url) == ["new1", "new2"]


def test_remove_expired_goes_through_every_batch(notes_url: str) -> None:
    add_keys(notes_url, keys.REMOVE_BATCH * 2 + 5, age=120)

    removed = on_database(notes_url, lambda database: remove_expired(database, ttl=60))

    assert removed == keys.REMOVE_BATCH * 2 + 5
    assert keys_left(notes_url) == []


def test_remove_expired_passes_over_a_key_in_use_without_waiting(notes_url: str) -> None:
    add_keys(notes_url, 2, age=120)

    async def scenario(database: Database) -> tuple[int, list[str]]:
        other = await asyncpg.connect(notes_url)
        try:
            async with other.transaction():
                await other.execute("SELECT 1 FROM idempotency_keys WHERE key = 'k1' FOR UPDATE")
                removed = await asyncio.wait_for(remove_expired(database, ttl=60), 5)
            return removed, [
                r["key"] for r in await other.fetch("SELECT key FROM idempotency_keys")
            ]
        finally:
            await other.close()

    removed, left = on_database(notes_url, scenario)

    assert (removed, left) == (1, ["k1"])


def test_removing_expired_removes_them_while_the_app_runs(notes_url: str) -> None:
    add_keys(notes_url, 4, age=120)

    async def scenario(database: Database) -> int:
        async with removing_expired(database, ttl=60, every=0.05):
            for _ in range(100):
                await asyncio.sleep(0.05)
                if not await database.fetch_val("SELECT count(*) FROM idempotency_keys"):
                    break
        left: int = await database.fetch_val("SELECT count(*) FROM idempotency_keys")
        return left

    assert on_database(notes_url, scenario) == 0
