"""SQLAlchemy Core statements compiled once, for `Database`'s verbs to run many times.

`databases` compiles a Core query each time it runs it, and building and compiling a statement
costs more than sending it (docs/database.md has the measurements). A `Statement` is written in
Core like any other, with `bindparam`s where the values go, and compiled once, when it is made:
services keep them as module constants. Running one sends the same SQL text each time, which
asyncpg prepares once per connection and then reuses, with the values in the order the text
numbers them:

    NOTE_BY_ID = Statement(select(notes).where(notes.c.id == bindparam("note_id")))
    row = await database.fetch_one(NOTE_BY_ID, values={"note_id": 7})

Only public SQLAlchemy API is used: the asyncpg dialect's `$1, $2, ...` placeholders
(`positiontup` names them in order), and each parameter's type for its bind processor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]

# A row as asyncpg returns it: read by column name (`row["id"]`); `dict(row)` copies it.
Row: TypeAlias = Mapping[str, Any]
Processor: TypeAlias = Callable[[Any], Any]


class Statement:
    """One Core statement, compiled once; its values are given by bindparam name at each run."""

    __slots__ = ("_defaults", "_processors", "names", "sql")

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=DIALECT)
        assert isinstance(compiled, SQLCompiler), f"not a SQL statement: {statement!r}"
        self.sql: str = compiled.string
        # The parameters in the order the SQL numbers them ($1, $2, ...).
        self.names: tuple[str, ...] = tuple(dict.fromkeys(compiled.positiontup or ()))
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        # Values written into the statement (`.offset(0)`, `bindparam("x", 5)`) are bound too.
        self._defaults: dict[str, Any] = {
            name: bind.value for name, bind in binds.items() if not bind.required
        }
        processors = [
            binds[name].type.dialect_impl(DIALECT).bind_processor(DIALECT) for name in self.names
        ]
        # None when no parameter needs converting (the usual case): values go as given.
        self._processors: tuple[Processor | None, ...] | None = (
            tuple(processors) if any(processors) else None
        )

    def arguments(self, values: Mapping[str, Any] | None) -> list[Any]:
        """The values in parameter order. Every bindparam must be given, and nothing else."""
        given: Mapping[str, Any] = values or {}
        if self._defaults:
            given = {**self._defaults, **given}
        try:
            arguments = [given[name] for name in self.names]
        except KeyError as missing:
            raise TypeError(f"no value for {missing.args[0]!r} in {self.sql!r}") from None
        if len(given) != len(self.names):
            unknown = sorted(set(given) - set(self.names))
            raise TypeError(f"{self.sql!r} has no parameter {unknown[0]!r}")
        if self._processors is None:
            return arguments
        return [
            value if process is None else process(value)
            for value, process in zip(arguments, self._processors, strict=True)
        ]

    def __repr__(self) -> str:
        return f"Statement({self.sql!r})"
