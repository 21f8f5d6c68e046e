"""SQL-first operations on notes, written in SQLAlchemy Core.

Each statement is compiled once, at import (see `compiled.py`), with `bindparam`s for its values,
and run on a connection leased from the pool of the `databases.Database` (`database.lease()`).
The functions take the database and keyword arguments, return rows (None when there is no such
note), and know nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select

from notes_api.compiled import Compiled, Record
from notes_api.database import PooledDatabase
from notes_api.tables import notes

# A note as the database returns it: id, text, completed, created_at, updated_at.
NoteRow = Record

COLUMNS = tuple(notes.c)
# The columns a write may set; anything else never reaches SQL.
WRITABLE = ("text", "completed")

GET = Compiled(select(notes).where(notes.c.id == bindparam("note_id")))
CREATE = Compiled(
    notes.insert()
    .values(text=bindparam("text"), completed=bindparam("completed"))
    .returning(*COLUMNS)
)
DELETE = Compiled(notes.delete().where(notes.c.id == bindparam("note_id")).returning(*COLUMNS))
EVERY_NOTE = Compiled(select(notes).order_by(notes.c.id))


@cache
def _page(after: bool, completed: bool) -> Compiled:
    # One statement per combination of filters (four in all): `WHERE id > $1` on its own lets
    # PostgreSQL walk the primary key from the cursor, which `($1 IS NULL OR id > $1)` would not.
    query = select(notes).order_by(notes.c.id).offset(bindparam("skip")).limit(bindparam("take"))
    if after:
        query = query.where(notes.c.id > bindparam("after"))
    if completed:
        query = query.where(notes.c.completed == bindparam("completed"))
    return Compiled(query)


@cache
def _update(columns: tuple[str, ...]) -> Compiled:
    # One statement per set of columns changed (three in all: text, completed, both).
    return Compiled(
        notes.update()
        .where(notes.c.id == bindparam("note_id"))
        .values({name: bindparam(name) for name in columns})
        .returning(*COLUMNS)
    )


async def create_note(database: PooledDatabase, *, text: str, completed: bool) -> NoteRow:
    async with database.lease() as connection:
        row = await CREATE.fetchrow(connection, text=text, completed=completed)
    assert row is not None  # INSERT ... RETURNING always returns the row
    return row


async def get_note(database: PooledDatabase, *, note_id: int) -> NoteRow | None:
    async with database.lease() as connection:
        return await GET.fetchrow(connection, note_id=note_id)


async def list_notes(
    database: PooledDatabase,
    *,
    take: int,
    skip: int = 0,
    after: int | None = None,
    completed: bool | None = None,
) -> list[NoteRow]:
    """A page of notes in id order: `after` a cursor (fast at any depth), then `skip` more."""
    values: dict[str, Any] = {"take": take, "skip": skip}
    if after is not None:
        values["after"] = after
    if completed is not None:
        values["completed"] = completed
    query = _page(after is not None, completed is not None)
    async with database.lease() as connection:
        return await query.fetch(connection, **values)


async def iterate_notes(
    database: PooledDatabase, *, batch: int
) -> AsyncIterator[Sequence[NoteRow]]:
    """Every note in id order, `batch` rows at a time, read through a server-side cursor in one
    transaction (a consistent snapshot): memory stays flat however many notes there are."""
    async with database.lease() as connection, connection.transaction():
        async for rows in EVERY_NOTE.batches(connection, size=batch):
            yield rows


async def replace_note(
    database: PooledDatabase, *, note_id: int, text: str, completed: bool
) -> NoteRow | None:
    return await update_note(
        database, note_id=note_id, changes={"text": text, "completed": completed}
    )


async def update_note(
    database: PooledDatabase, *, note_id: int, changes: Mapping[str, Any]
) -> NoteRow | None:
    """Set the given columns; with nothing to change, return the note as it is."""
    unknown = set(changes) - set(WRITABLE)
    if unknown:
        raise ValueError(f"not writable: {sorted(unknown)}")
    if not changes:
        return await get_note(database, note_id=note_id)
    query = _update(tuple(name for name in WRITABLE if name in changes))
    async with database.lease() as connection:
        return await query.fetchrow(connection, note_id=note_id, **changes)


async def delete_note(database: PooledDatabase, *, note_id: int) -> NoteRow | None:
    async with database.lease() as connection:
        return await DELETE.fetchrow(connection, note_id=note_id)


async def ping(database: PooledDatabase) -> None:
    await database.fetch_val("SELECT 1")
