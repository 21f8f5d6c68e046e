"""SQL-first operations on notes. Each is one SQLAlchemy Core statement sent through `databases`.

They take the database and keyword arguments, return notes (or None when there is no such note),
and know nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from databases import Database
from sqlalchemy import select

from notes_api.schemas import Note
from notes_api.tables import notes


def _note(row: Any) -> Note:
    return Note.model_validate(dict(row._mapping))


def _maybe_note(row: Any | None) -> Note | None:
    return None if row is None else _note(row)


async def create_note(database: Database, *, text: str, completed: bool) -> Note:
    query = notes.insert().values(text=text, completed=completed).returning(*notes.c)
    return _note(await database.fetch_one(query))


async def get_note(database: Database, *, note_id: int) -> Note | None:
    query = select(notes).where(notes.c.id == note_id)
    return _maybe_note(await database.fetch_one(query))


async def list_notes(
    database: Database,
    *,
    take: int,
    skip: int = 0,
    after: int | None = None,
    completed: bool | None = None,
) -> list[Note]:
    """A page of notes in id order: `after` a cursor (fast at any depth), then `skip` more."""
    query = select(notes).order_by(notes.c.id).offset(skip).limit(take)
    if after is not None:
        query = query.where(notes.c.id > after)
    if completed is not None:
        query = query.where(notes.c.completed == completed)
    return [_note(row) for row in await database.fetch_all(query)]


async def iterate_notes(database: Database) -> AsyncIterator[Note]:
    """Every note in id order, read through a server-side cursor: memory stays flat."""
    async for row in database.iterate(select(notes).order_by(notes.c.id)):
        yield _note(row)


async def replace_note(
    database: Database, *, note_id: int, text: str, completed: bool
) -> Note | None:
    return await update_note(
        database, note_id=note_id, changes={"text": text, "completed": completed}
    )


async def update_note(
    database: Database, *, note_id: int, changes: Mapping[str, Any]
) -> Note | None:
    """Set the given columns; with nothing to change, return the note as it is."""
    if not changes:
        return await get_note(database, note_id=note_id)
    query = notes.update().where(notes.c.id == note_id).values(**changes).returning(*notes.c)
    return _maybe_note(await database.fetch_one(query))


async def delete_note(database: Database, *, note_id: int) -> Note | None:
    query = notes.delete().where(notes.c.id == note_id).returning(*notes.c)
    return _maybe_note(await database.fetch_one(query))


async def ping(database: Database) -> None:
    await database.fetch_val("SELECT 1")
