"""`make bench-data-layer`: what fetching one note by id costs the client, per way of running it.

Why the service's queries are Statements compiled once (docs/database.md): each variant fetches a
random note by id, one call after another, and the figure is this process's CPU time per call
(time.process_time: the client's work, not the database's). The variants take turns in every
round; each one's figure is its median over the rounds, shown against raw asyncpg.

1. raw asyncpg: a connection from asyncpg's pool, `fetchrow` with the SQL text;
2. the service: `database.fetch_one(NOTE_BY_ID, values=...)`, a Statement compiled once;
3. the same inside `async with database.transaction()` (on the transaction's connection);
4. stock databases with a Core query: `fetch_one(select(notes).where(notes.c.id == id))`,
   compiled on every call;
5. stock databases with SQL text: `fetch_one("SELECT ... WHERE id = :id", values=...)`;
6. databases with a compile cache keyed by SQLAlchemy's cache key: the statement (and its key)
   built on every call, compiled once;
7. `lambda_stmt` through that same cache.

Works in the benchmark's own database (see support.py); prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import databases
from databases.backends.postgres import PostgresBackend, PostgresConnection
from sqlalchemy import lambda_stmt, select
from sqlalchemy.sql import ClauseElement
from support import BENCH_DATABASE, bench_databases, reset_notes

from notes_api.config import Settings
from notes_api.database import Database
from notes_api.database.settings import keep_session
from notes_api.notes.service import NOTE_BY_ID, get_note
from notes_api.notes.tables import notes

NOTES = 1_000
Call = Callable[[int], Awaitable[Any]]


class CachingConnection(PostgresConnection):
    """databases' connection, compiling each distinct statement once, keyed by its cache key."""

    compiled: dict[Any, tuple[Any, tuple[str, ...], str, Any]] = {}  # noqa: RUF012

    def _compile(self, query: ClauseElement) -> tuple[str, list[Any], Any]:
        key = query._generate_cache_key()
        assert key is not None, "statement without a cache key"
        entry = self.compiled.get(key.key)
        if entry is None:
            compiled: Any = query.compile(dialect=self._dialect, cache_key=key)
            names = tuple(sorted(compiled.params))
            sql = compiled.string % {name: f"${i}" for i, name in enumerate(names, 1)}
            entry = self.compiled[key.key] = (compiled, names, sql, compiled._result_columns)
        compiled, names, sql, result_columns = entry
        # The values of this statement's literals, as SQLAlchemy's own cache extracts them.
        params = compiled.construct_params(extracted_parameters=key.bindparams)
        return sql, [params[name] for name in names], result_columns


class CachingBackend(PostgresBackend):
    def connection(self) -> CachingConnection:
        return CachingConnection(self, self._dialect)


class CachingDatabase(databases.Database):
    SUPPORTED_BACKENDS = {"postgresql": f"{__name__}:CachingBackend"}  # noqa: RUF012


async def variants(url: str) -> tuple[dict[str, Call], Callable[[], Awaitable[None]]]:
    """Each variant's call, by name; and what closes them all."""
    # The same pool for every variant: one connection, no reset query on release (as the
    # service runs it, docs/performance.md step 10).
    options: dict[str, Any] = {"min_size": 1, "max_size": 1, "reset": keep_session}
    pool = await asyncpg.create_pool(url, **options)
    raw_sql = "SELECT id, text, completed, created_at, updated_at FROM notes WHERE id = $1"

    async def raw(note_id: int) -> Any:
        async with pool.acquire() as connection:
            return await connection.fetchrow(raw_sql, note_id)

    service = await Database(url, **options).__aenter__()

    async def statement(note_id: int) -> Any:
        return await service.fetch_one(NOTE_BY_ID, values={"note_id": note_id})

    transactional = await Database(url, **options).__aenter__()
    transaction = await transactional.transaction()

    async def in_transaction(note_id: int) -> Any:
        return await get_note(transactional, note_id=note_id)

    stock = await databases.Database(url, **options).__aenter__()

    async def core(note_id: int) -> Any:
        return await stock.fetch_one(select(notes).where(notes.c.id == note_id))

    async def text(note_id: int) -> Any:
        return await stock.fetch_one(
            "SELECT id, text, completed, created_at, updated_at FROM notes WHERE id = :id",
            values={"id": note_id},
        )

    caching = await CachingDatabase(url, **options).__aenter__()

    async def cached(note_id: int) -> Any:
        return await caching.fetch_one(select(notes).where(notes.c.id == note_id))

    async def cached_lambda(note_id: int) -> Any:
        return await caching.fetch_one(
            lambda_stmt(lambda: select(notes).where(notes.c.id == note_id))
        )

    async def close() -> None:
        await transaction.rollback()
        for database in (service, transactional, stock, caching):
            await database.disconnect()
        await pool.close()

    calls: dict[str, Call] = {
        "raw asyncpg": raw,
        "service: Statement, databases' verb": statement,
        "service: in a transaction": in_transaction,
        "databases: Core, compiled per call": core,
        "databases: SQL text": text,
        "databases + compile cache (cache key)": cached,
        "databases + compile cache, lambda_stmt": cached_lambda,
    }
    return calls, close


async def measure(url: str, calls: int, rounds: int) -> dict[str, list[float]]:
    await reset_notes(url, NOTES)
    found, close = await variants(url)
    dice = random.Random(10)
    per_call: dict[str, list[float]] = {name: [] for name in found}
    try:
        for name, call in found.items():  # warm up: connections, prepared statements, caches
            for _ in range(200):
                assert await call(dice.randint(1, NOTES)) is not None, name
        for round_number in range(rounds):
            names = list(found)
            turn = round_number % len(names)
            for name in names[turn:] + names[:turn]:
                call = found[name]
                ids = [dice.randint(1, NOTES) for _ in range(calls)]
                started = time.process_time()
                for note_id in ids:
                    await call(note_id)
                per_call[name].append((time.process_time() - started) / calls * 1e6)
    finally:
        await close()
    return per_call


def report(per_call: dict[str, list[float]]) -> None:
    raw = statistics.median(per_call["raw asyncpg"])
    print(f"{'variant':42} {'µs/call':>8} {'range':>15} {'x raw':>6}")
    for name, figures in per_call.items():
        median = statistics.median(figures)
        spread = f"{min(figures):.0f}-{max(figures):.0f}"
        print(f"{name:42} {median:8.0f} {spread:>15} {median / raw:5.2f}x")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000, help="Calls per variant and round.")
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


async def main(arguments: argparse.Namespace) -> None:
    async with bench_databases(Settings(), BENCH_DATABASE) as [url]:
        per_call = await measure(url, arguments.calls, arguments.rounds)
    print(f"Per call, client CPU, {arguments.rounds} rounds of {arguments.calls:,} calls:")
    report(per_call)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
