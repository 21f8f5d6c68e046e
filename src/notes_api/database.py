"""The service's database: encode's `databases.Database`, whose verbs also run Statements.

It is a `databases.Database` in every way (the databases README's examples work on it), with
one addition: its verbs (`fetch_one`, `fetch_all`, `fetch_val`, `execute`, `execute_many`,
`iterate`) also take a `Statement`, a Core statement compiled once (statements.py), and run it
without compiling it again:

    row = await database.fetch_one(NOTE_BY_ID, values={"note_id": 7})  # a Statement
    rows = await database.fetch_all("SELECT * FROM notes WHERE id > :id", values={"id": 7})
    async with database.transaction():  # service calls in one transaction, on one connection
        note = await create_note(database, text="Buy milk", completed=False)
        await update_note(database, note_id=note["id"], changes={"completed": True})

A Statement runs on the connection the task holds inside `database.transaction()` or
`database.connection()` (or force_rollback's), so that it takes part in that transaction, and
otherwise on a connection of its own from the pool, without databases' per-task bookkeeping.
Every path, databases' own included, waits for its connection in one line (pool.py).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Self, overload

import asyncpg
import databases
from databases.interfaces import Record
from sqlalchemy.sql import ClauseElement

from notes_api import internals
from notes_api.config import Settings
from notes_api.connector import Connector
from notes_api.database_url import ConnectionTarget
from notes_api.pool import Pool
from notes_api.statements import Row, Statement

# Rows `iterate` reads from its server-side cursor at a time.
ITERATE_PREFETCH = 1_000

Query = ClauseElement | str


class Database(databases.Database):
    """A `databases.Database` on PostgreSQL whose verbs also take Statements (see the module)."""

    SUPPORTED_BACKENDS = {  # noqa: RUF012 (the type databases gives it)
        **databases.Database.SUPPORTED_BACKENDS,
        "postgresql": "notes_api.internals:Backend",
        "postgres": "notes_api.internals:Backend",
    }

    def __init__(
        self,
        url: str | ConnectionTarget,
        *,
        force_rollback: bool = False,
        pool_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        **pool_options: Any,
    ) -> None:
        """`url` as DATABASE_URL; `pool_options` as `asyncpg.create_pool` takes them (as with
        databases); `pool_timeout`: seconds to wait in line for a connection; `connect_timeout`:
        seconds to open one, on any of the URL's hosts (connector.py)."""
        target = url if isinstance(url, ConnectionTarget) else ConnectionTarget.from_url(url)
        # databases reads its URL for its log lines only: it gets one without the password.
        super().__init__(
            target.public_url,
            force_rollback=force_rollback,
            connector=Connector(target, timeout=connect_timeout),
            pool_timeout=pool_timeout,
            **pool_options,
        )
        self.target = target
        self.pool: Pool | None = None

    @classmethod
    def from_settings(cls, target: ConnectionTarget, settings: Settings, **options: Any) -> Self:
        """The service's database on `target`, its pool as the settings say (`options` over
        them: those of a subclass, or another `min_size`)."""
        defaults: dict[str, Any] = {
            "pool_timeout": settings.db_pool_timeout,
            "connect_timeout": settings.db_connect_timeout,
            "min_size": settings.db_pool_min_size,
            "max_size": settings.db_pool_max_size,
            "statement_cache_size": settings.db_statement_cache_size,
            "server_settings": server_settings(settings),
            # None: asyncpg's full reset; see keep_session.
            "reset": None if settings.db_reset_session else keep_session,
        }
        return cls(target, **(defaults | options))

    async def __aenter__(self) -> Self:  # databases' own says it returns a databases.Database
        await self.connect()
        return self

    async def connect(self) -> None:
        await super().connect()
        self.pool = internals.pool_of(self)

    async def disconnect(self) -> None:
        await super().disconnect()
        self.pool = None

    def _connection_for_statement(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """The task's connection in `transaction()`/`connection()`, else one from the pool."""
        held = internals.task_connection(self)
        if held is not None:
            return internals.raw_connection(held)
        assert self.pool is not None, "the database is not connected"
        return self.pool.lease()

    @overload
    async def fetch_one(
        self, query: Statement, values: Mapping[str, Any] | None = None
    ) -> Row | None: ...
    @overload
    async def fetch_one(
        self, query: Query, values: dict[str, Any] | None = None
    ) -> Record | None: ...
    async def fetch_one(self, query: Statement | Query, values: Any = None) -> Any:
        if not isinstance(query, Statement):
            return await super().fetch_one(query, values)
        arguments = query.arguments(values)
        async with self._connection_for_statement() as connection:
            return await connection.fetchrow(query.sql, *arguments)

    @overload
    async def fetch_all(
        self, query: Statement, values: Mapping[str, Any] | None = None
    ) -> list[Row]: ...
    @overload
    async def fetch_all(
        self, query: Query, values: dict[str, Any] | None = None
    ) -> list[Record]: ...
    async def fetch_all(self, query: Statement | Query, values: Any = None) -> Any:
        if not isinstance(query, Statement):
            return await super().fetch_all(query, values)
        arguments = query.arguments(values)
        async with self._connection_for_statement() as connection:
            return await connection.fetch(query.sql, *arguments)

    async def fetch_val(self, query: Statement | Query, values: Any = None, column: Any = 0) -> Any:
        if not isinstance(query, Statement):
            return await super().fetch_val(query, values, column=column)
        row = await self.fetch_one(query, values)
        return None if row is None else row[column]

    async def execute(self, query: Statement | Query, values: Any = None) -> Any:
        """Run a statement; like databases, answer the first column of its first row, if any
        (an INSERT ... RETURNING id answers the id)."""
        if not isinstance(query, Statement):
            return await super().execute(query, values)
        arguments = query.arguments(values)
        async with self._connection_for_statement() as connection:
            return await connection.fetchval(query.sql, *arguments)

    async def execute_many(self, query: Statement | Query, values: Sequence[Any]) -> None:
        if not isinstance(query, Statement):
            await super().execute_many(query, list(values))
            return
        arguments = [query.arguments(each) for each in values]
        async with self._connection_for_statement() as connection:
            await connection.executemany(query.sql, arguments)

    async def iterate(
        self, query: Statement | Query, values: Any = None
    ) -> AsyncGenerator[Mapping[str, Any], None]:
        """Rows one at a time from a server-side cursor, in a transaction of its own (a savepoint
        inside `transaction()`), as databases does: memory stays flat however many rows."""
        if not isinstance(query, Statement):
            async for record in super().iterate(query, values):
                yield record
            return
        arguments = query.arguments(values)
        async with self._connection_for_statement() as connection, connection.transaction():
            cursor = connection.cursor(query.sql, *arguments, prefetch=ITERATE_PREFETCH)
            async for row in cursor:
                yield row


async def keep_session(connection: asyncpg.Connection) -> None:
    """Reset nothing more when a connection returns to the pool.

    By default asyncpg sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    each time a connection returns to the pool: a second round trip for every one-statement
    request (docs/performance.md, step 10). The service's statements leave none of that state
    behind: no SET, LISTEN, session advisory lock or WITH HOLD cursor (migrations run on
    connections of their own). asyncpg still rolls back a transaction left open before it calls
    this. Code that does change the session should set DB_RESET_SESSION=true, which restores
    asyncpg's reset.
    """


def server_settings(settings: Settings) -> dict[str, str]:
    """PostgreSQL settings sent when each connection starts."""
    if not settings.db_statement_timeout:
        return {}
    # Whole milliseconds: PostgreSQL reads a bare number as ms.
    return {"statement_timeout": str(max(1, round(settings.db_statement_timeout * 1000)))}
