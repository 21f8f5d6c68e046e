"""The service's database: encode's `databases.Database`, whose verbs also run Statements.

It is a `databases.Database` in every way (the databases README's examples work on it), with
two additions. Its verbs (`fetch_one`, `fetch_all`, `fetch_val`, `execute`, `execute_many`,
`iterate`) also take a `Statement`, a Core statement compiled once (statements.py), and run it
without compiling it again:

    row = await database.fetch_one(NOTE_BY_ID, values={"note_id": 7})  # a Statement
    rows = await database.fetch_all("SELECT * FROM notes WHERE id > :id", values={"id": 7})
    async with database.transaction():  # service calls in one transaction, on one connection
        note = await create_note(database, text="Buy milk", completed=False)
        await update_note(database, note_id=note["id"], changes={"completed": True})

And its verbs and transactions raise the data layer's errors (errors.py), not the driver's.

A Statement runs on the connection the task holds inside `database.transaction()` or
`database.connection()` (or force_rollback's), so that it takes part in that transaction, and
otherwise on a connection of its own from the pool, without databases' per-task bookkeeping.
Every path, databases' own included, waits for its connection in one line (pool.py). A
connection's own verbs (`async with database.connection() as connection`) are databases' and
raise the driver's errors: the database's verbs run on that connection too.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Self, overload

import asyncpg
import databases
from databases.core import Transaction as _Transaction
from databases.interfaces import Record
from sqlalchemy.sql import ClauseElement

from notes_api.database import internals
from notes_api.database.connector import Connector
from notes_api.database.errors import TRANSLATED, translated
from notes_api.database.pool import Pool
from notes_api.database.statements import Row, Statement
from notes_api.database.url import ConnectionTarget

# Rows `iterate` reads from its server-side cursor at a time.
ITERATE_PREFETCH = 1_000

Query = ClauseElement | str


class Database(databases.Database):
    """A `databases.Database` on PostgreSQL whose verbs also take Statements (see the module)."""

    # databases builds its backend from this table: ours opens connections through a Connector.
    SUPPORTED_BACKENDS = internals.SUPPORTED_BACKENDS

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
        # databases reads its URL for its log lines only: it gets one without the password. It
        # hands the other options to the backend (internals.Backend).
        super().__init__(
            target.public_url,
            force_rollback=force_rollback,
            connector=Connector(target, timeout=connect_timeout),
            pool_timeout=pool_timeout,
            **pool_options,
        )
        self.target = target
        self.pool: Pool | None = None

    async def __aenter__(self) -> Self:  # databases' own says it returns a databases.Database
        await self.connect()
        return self

    async def connect(self) -> None:
        await super().connect()
        self.pool = internals.pool_of(self)

    async def disconnect(self) -> None:
        await super().disconnect()
        self.pool = None

    def transaction(self, *, force_rollback: bool = False, **kwargs: Any) -> Transaction:
        return Transaction(self.connection, force_rollback=force_rollback, **kwargs)

    def _connection_for_statement(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """The task's connection in `transaction()`/`connection()`, else one from the pool."""
        held = internals.task_connection(self)
        if held is not None:
            return internals.raw_connection(held)
        assert self.pool is not None, "the database is not connected"
        return self.pool.lease()

    # Each verb runs a Statement itself, any other query through databases, and raises the
    # driver's errors as the data layer's (`raise translated(error) from error`).

    @overload
    async def fetch_one(
        self, query: Statement, values: Mapping[str, Any] | None = None
    ) -> Row | None: ...
    @overload
    async def fetch_one(
        self, query: Query, values: dict[str, Any] | None = None
    ) -> Record | None: ...
    async def fetch_one(self, query: Statement | Query, values: Any = None) -> Any:
        try:
            if not isinstance(query, Statement):
                return await super().fetch_one(query, values)
            arguments = query.arguments(values)
            async with self._connection_for_statement() as connection:
                return await connection.fetchrow(query.sql, *arguments)
        except TRANSLATED as error:
            raise translated(error) from error

    @overload
    async def fetch_all(
        self, query: Statement, values: Mapping[str, Any] | None = None
    ) -> list[Row]: ...
    @overload
    async def fetch_all(
        self, query: Query, values: dict[str, Any] | None = None
    ) -> list[Record]: ...
    async def fetch_all(self, query: Statement | Query, values: Any = None) -> Any:
        try:
            if not isinstance(query, Statement):
                return await super().fetch_all(query, values)
            arguments = query.arguments(values)
            async with self._connection_for_statement() as connection:
                return await connection.fetch(query.sql, *arguments)
        except TRANSLATED as error:
            raise translated(error) from error

    async def fetch_val(self, query: Statement | Query, values: Any = None, column: Any = 0) -> Any:
        if isinstance(query, Statement):
            row = await self.fetch_one(query, values)
            return None if row is None else row[column]
        try:
            return await super().fetch_val(query, values, column=column)
        except TRANSLATED as error:
            raise translated(error) from error

    async def execute(self, query: Statement | Query, values: Any = None) -> Any:
        """Run a statement; like databases, answer the first column of its first row, if any
        (an INSERT ... RETURNING id answers the id)."""
        try:
            if not isinstance(query, Statement):
                return await super().execute(query, values)
            arguments = query.arguments(values)
            async with self._connection_for_statement() as connection:
                return await connection.fetchval(query.sql, *arguments)
        except TRANSLATED as error:
            raise translated(error) from error

    async def execute_many(self, query: Statement | Query, values: Sequence[Any]) -> None:
        try:
            if not isinstance(query, Statement):
                await super().execute_many(query, list(values))
                return
            arguments = [query.arguments(each) for each in values]
            async with self._connection_for_statement() as connection:
                await connection.executemany(query.sql, arguments)
        except TRANSLATED as error:
            raise translated(error) from error

    async def iterate(
        self, query: Statement | Query, values: Any = None
    ) -> AsyncGenerator[Mapping[str, Any], None]:
        """Rows one at a time from a server-side cursor, in a transaction of its own (a savepoint
        inside `transaction()`), as databases does: memory stays flat however many rows."""
        try:
            if not isinstance(query, Statement):
                async for record in super().iterate(query, values):
                    yield record
                return
            arguments = query.arguments(values)
            async with self._connection_for_statement() as connection, connection.transaction():
                cursor = connection.cursor(query.sql, *arguments, prefetch=ITERATE_PREFETCH)
                async for row in cursor:
                    yield row
        except TRANSLATED as error:
            raise translated(error) from error
        except asyncpg.InterfaceError as error:
            # The cursor's transaction, ended on a connection the server dropped, says only that
            # the connection is closed: what counts is why.
            if isinstance(error.__context__, TRANSLATED):
                raise translated(error.__context__) from error.__context__
            raise


class Transaction(_Transaction):
    """databases' transaction, whose start, commit and rollback raise the data layer's errors,
    and give its connection back to the pool even when they fail (internals.begin, end)."""

    async def start(self) -> Self:
        try:
            await internals.begin(self)
        except TRANSLATED as error:
            raise translated(error) from error
        return self

    async def commit(self) -> None:
        await self._end(commit=True)

    async def rollback(self) -> None:
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        try:
            await internals.end(self, commit=commit)
        except TRANSLATED as error:
            raise translated(error) from error
