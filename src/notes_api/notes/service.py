"""SQL-first operations on notes: Core statements, compiled once, run with databases' verbs.

Each query is a module constant: a `Statement` (statements.py) written in SQLAlchemy Core with
`bindparam`s where its values go, compiled at import. The functions run them with the verbs of
`databases` (`database.fetch_one(NOTE_BY_ID, values={"note_id": 7})`), so they compose: called
inside `async with database.transaction():`, they all run in that one transaction. They take the
database and keyword arguments, return rows, raise NoteNotFoundError when there is no such note,
and know nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select

from notes_api.database import Database, Row, Statement
from notes_api.notes.tables import notes

# A note as the database returns it: id, text, completed, created_at, updated_at.
NoteRow = Row


class NoteNotFoundError(LookupError):
    """No note has this id (or it was deleted meanwhile)."""

    def __init__(self, note_id: int) -> None:
        super().__init__(f"no note has id {note_id}")
        self.note_id = note_id


# The columns a write may set; anything else never reaches SQL.
WRITABLE = ("text", "completed")

NOTE_BY_ID = Statement(select(notes).where(notes.c.id == bindparam("note_id")))
INSERT_NOTE = Statement(
    notes.insert()
    .values(text=bindparam("text"), completed=bindparam("completed"))
    .returning(*notes.c)
)
DELETE_NOTE = Statement(
    notes.delete().where(notes.c.id == bindparam("note_id")).returning(*notes.c)
)
EVERY_NOTE = Statement(select(notes).order_by(notes.c.id))


def _page(*, after: bool, completed: bool) -> Select[Any]:
    query = select(notes).order_by(notes.c.id).offset(bindparam("skip")).limit(bindparam("take"))
    if after:
        query = query.where(notes.c.id > bindparam("after"))
    if completed:
        query = query.where(notes.c.completed == bindparam("completed"))
    return query


# One statement per combination of filters, keyed (after given, completed given): `WHERE id > $1`
# alone lets PostgreSQL walk the primary key from the cursor; `($1 IS NULL OR id > $1)` would not.
PAGES = {
    (after, completed): Statement(_page(after=after, completed=completed))
    for after in (False, True)
    for completed in (False, True)
}
# One UPDATE per set of columns changed: text, completed, or both.
UPDATES: dict[tuple[str, ...], Statement] = {
    columns: Statement(
        notes.update()
        .where(notes.c.id == bindparam("note_id"))
        .values({name: bindparam(name) for name in columns})
        .returning(*notes.c)
    )
    for columns in (("text",), ("completed",), WRITABLE)
}


async def create_note(database: Database, *, text: str, completed: bool) -> NoteRow:
    row = await database.fetch_one(INSERT_NOTE, values={"text": text, "completed": completed})
    assert row is not None  # INSERT ... RETURNING always returns the row
    return row


async def get_note(database: Database, *, note_id: int) -> NoteRow:
    note = await database.fetch_one(NOTE_BY_ID, values={"note_id": note_id})
    if note is None:
        raise NoteNotFoundError(note_id)
    return note


async def list_notes(
    database: Database,
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
    page = PAGES[after is not None, completed is not None]
    return await database.fetch_all(page, values=values)


async def iterate_notes(database: Database, *, batch: int) -> AsyncIterator[Sequence[NoteRow]]:
    """Every note in id order, `batch` rows at a time, read through a server-side cursor in one
    transaction (a consistent snapshot): memory stays flat however many notes there are."""
    rows: list[NoteRow] = []
    async for row in database.iterate(EVERY_NOTE):
        rows.append(row)
        if len(rows) == batch:
            yield rows
            rows = []
    if rows:
        yield rows


async def replace_note(database: Database, *, note_id: int, text: str, completed: bool) -> NoteRow:
    return await update_note(
        database, note_id=note_id, changes={"text": text, "completed": completed}
    )


async def update_note(database: Database, *, note_id: int, changes: Mapping[str, Any]) -> NoteRow:
    """Set the given columns; with nothing to change, return the note as it is."""
    unknown = set(changes) - set(WRITABLE)
    if unknown:
        raise ValueError(f"not writable: {sorted(unknown)}")
    if not changes:
        return await get_note(database, note_id=note_id)
    update = UPDATES[tuple(name for name in WRITABLE if name in changes)]
    note = await database.fetch_one(update, values={"note_id": note_id, **changes})
    if note is None:
        raise NoteNotFoundError(note_id)
    return note


async def delete_note(database: Database, *, note_id: int) -> NoteRow:
    """Delete the note; answer it as it was."""
    note = await database.fetch_one(DELETE_NOTE, values={"note_id": note_id})
    if note is None:
        raise NoteNotFoundError(note_id)
    return note
