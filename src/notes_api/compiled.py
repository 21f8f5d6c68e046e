"""SQLAlchemy Core statements compiled once, at import, and run on asyncpg directly.

`databases` compiles a Core statement on every call: hundreds of µs, more than the rest of a
simple request (see docs/performance.md). A `Compiled` statement is written in Core like any
other, with `bindparam`s where the values go; it is compiled once, with the dialect `databases`
itself uses for PostgreSQL, into the SQL text, the order of its parameters and its result
columns. Each call then sends that text, which asyncpg prepares once per connection and caches,
with the values in order.

The connection is an asyncpg connection from the pool of `databases`
(`async with database.lease() as connection`, see `database.py`): its pool and its acquire timeout
stay the one way the service reaches PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeAlias

import asyncpg
from databases.backends.dialects.psycopg import dialect as databases_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

# What `databases.backends.postgres.PostgresBackend` compiles with: pyformat (`%(name)s`)
# placeholders, which we turn into asyncpg's `$1, $2, ...` below, as `databases` does.
DIALECT: Dialect = databases_dialect(paramstyle="pyformat")  # type: ignore[no-untyped-call]

# An asyncpg Record: read-only, by column name (`row["id"]`), `dict(row)` for a copy.
Record: TypeAlias = Mapping[str, Any]


class Compiled:
    """One Core statement, compiled once; run it with keyword values for its bindparams."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=DIALECT)
        assert isinstance(compiled, SQLCompiler)
        # Sorted names, numbered from 1: the same numbering `databases` gives them.
        names = sorted(compiled.params)
        self.sql: str = compiled.string % {name: f"${i}" for i, name in enumerate(names, 1)}
        self.parameters: tuple[str, ...] = tuple(names)
        self.columns: tuple[str, ...] = tuple(column[0] for column in compiled._result_columns)
        processors = compiled._bind_processors
        self._processors: tuple[Callable[[Any], Any] | None, ...] = tuple(
            processors.get(name)  # type: ignore[misc]  # one callable per scalar parameter
            for name in names
        )
        # Values fixed in the statement (`.offset(0)`, `== True`) are bound too; keep them.
        self._fixed = {k: v for k, v in compiled.params.items() if v is not None}

    def arguments(self, values: dict[str, Any]) -> list[Any]:
        """The values in parameter order; every bindparam without a fixed value must be given."""
        given = self._fixed | values if self._fixed else values
        missing = set(self.parameters) - given.keys()
        if missing:
            raise TypeError(f"missing values for {sorted(missing)} in {self.sql!r}")
        return [
            given[name] if process is None else process(given[name])
            for name, process in zip(self.parameters, self._processors, strict=True)
        ]

    async def fetchrow(self, connection: asyncpg.Connection, **values: Any) -> Record | None:
        row: Record | None = await connection.fetchrow(self.sql, *self.arguments(values))
        return row

    async def fetch(self, connection: asyncpg.Connection, **values: Any) -> list[Record]:
        rows: list[Record] = await connection.fetch(self.sql, *self.arguments(values))
        return rows

    async def batches(
        self, connection: asyncpg.Connection, *, size: int, **values: Any
    ) -> AsyncIterator[Sequence[Record]]:
        """Every row, `size` at a time, from a server-side cursor (call it in a transaction)."""
        cursor = await connection.cursor(self.sql, *self.arguments(values))
        while rows := await cursor.fetch(size):
            yield rows
