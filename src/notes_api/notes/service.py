"""SQL-first operations on notes: Core statements, compiled once, run with databases' verbs.

Each query is a module constant: a `Statement` (statements.py) written in SQLAlchemy Core with
`bindparam`s where its values go, compiled at import. The functions run them with the verbs of
`databases` (`database.fetch_one(NOTE_BY_ID, values={"note_id": 7})`), so they compose: called
inside `async with database.transaction():`, they all run in that one transaction. They take the
database and keyword arguments, return rows, raise NoteNotFoundError when there is no such note,
and know nothing of HTTP.

A write may be conditional (`expected`, from If-Match): it then changes the note only if its
version is one of those expected, checked in the UPDATE or DELETE itself, so that no other write
can come between the check and the change; else PreconditionFailedError, and nothing changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from functools import cache
from typing import Any, Literal, TypeAlias

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    any_,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy import text as sql_text  # `text` is a note's column, and an argument here
from sqlalchemy.dialects.postgresql import ARRAY

from notes_api.database import Database, Row, Statement
from notes_api.notes.tables import notes

# A note as the database returns it: id, text, completed, created_at, updated_at, version.
NoteRow = Row
# What a conditional write expects of the note: any version ("*": that it exists), one of these.
Expected: TypeAlias = Literal["*"] | frozenset[int] | None


class NoteNotFoundError(LookupError):
    """No note has this id (or it was deleted meanwhile)."""

    def __init__(self, note_id: int) -> None:
        super().__init__(f"no note has id {note_id}")
        self.note_id = note_id


class PreconditionFailedError(Exception):
    """The note's version is not one the write expected: someone else changed it (or it is gone)."""

    def __init__(self, note_id: int) -> None:
        super().__init__(f"note {note_id} is not at the version expected")
        self.note_id = note_id


# The columns a write may set; anything else never reaches SQL.
WRITABLE = ("text", "completed")
# What a client sees of a note (lists and exports); a single note's version goes in its ETag.
PUBLIC = (notes.c.id, notes.c.text, notes.c.completed, notes.c.created_at, notes.c.updated_at)

_by_id = notes.c.id == bindparam("note_id")
_at_version = notes.c.version == any_(bindparam("versions", type_=ARRAY(BigInteger)))

NOTE_BY_ID = Statement(select(notes).where(notes.c.id == bindparam("note_id")))
INSERT_NOTE = Statement(
    notes.insert()
    .values(text=bindparam("text"), completed=bindparam("completed"))
    .returning(*notes.c)
)
# Keyed by whether the write is conditional: only at one of the expected versions.
DELETES = {
    conditional: Statement(
        notes.delete().where(_by_id, *([_at_version] if conditional else [])).returning(*notes.c)
    )
    for conditional in (False, True)
}
EVERY_NOTE = Statement(select(*PUBLIC).order_by(notes.c.id))


def matching(text_search_config: str) -> ColumnElement[bool]:
    """The notes whose text has the words of `:q`, read as a web search engine reads a query
    (websearch_to_tsquery: `"a phrase"`, `-without`, `or`): any input is a valid query.

    The configuration goes into the SQL as a constant, not as a parameter: PostgreSQL uses the
    search index (migration 0003) only for its very expression, `to_tsvector('simple', text)`."""
    config: ColumnElement[Any] = literal_column(f"'{text_search_config}'::regconfig")
    words = func.to_tsvector(config, notes.c.text)
    return words.bool_op("@@")(func.websearch_to_tsquery(config, bindparam("q")))


def _page(*, after: bool, completed: bool, search: str | None = None) -> Select[Any]:
    query = select(*PUBLIC).order_by(notes.c.id).offset(bindparam("skip")).limit(bindparam("take"))
    if after:
        query = query.where(notes.c.id > bindparam("after"))
    if completed:
        query = query.where(notes.c.completed == bindparam("completed"))
    if search is not None:
        query = query.where(matching(search))
    return query


# One statement per combination of filters, keyed (after given, completed given): `WHERE id > $1`
# alone lets PostgreSQL walk the primary key from the cursor; `($1 IS NULL OR id > $1)` would not.
PAGES = {
    (after, completed): Statement(_page(after=after, completed=completed))
    for after in (False, True)
    for completed in (False, True)
}


# A search's best plan depends on its words: for a rare one, read the few notes the index lists;
# for a common one, walk the notes in id order, the first `take` come at once. A statement run
# many times gets, after five runs, one plan for any words (a "generic" plan), which walks the
# notes in id order: for a rare word, the whole table (seconds at a million notes). So a search
# runs in a transaction that has PostgreSQL plan it for its words, each time (about 0.1 ms).
CUSTOM_PLANS = Statement(sql_text("SET LOCAL plan_cache_mode = force_custom_plan"))


@cache
def search_pages(text_search_config: str) -> dict[tuple[bool, bool], Statement]:
    """PAGES, of the notes matching `:q` too; made the first time a configuration (a setting:
    TEXT_SEARCH_CONFIG) is asked for."""
    return {
        (after, completed): Statement(
            _page(after=after, completed=completed, search=text_search_config)
        )
        for after in (False, True)
        for completed in (False, True)
    }


# One UPDATE per set of columns changed (text, completed, or both), conditional or not.
UPDATES: dict[tuple[tuple[str, ...], bool], Statement] = {
    (columns, conditional): Statement(
        notes.update()
        .where(_by_id, *([_at_version] if conditional else []))
        .values({name: bindparam(name) for name in columns})
        .returning(*notes.c)
    )
    for columns in (("text",), ("completed",), WRITABLE)
    for conditional in (False, True)
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
    q: str | None = None,
    text_search_config: str = "simple",
) -> list[NoteRow]:
    """A page of notes in id order: `after` a cursor (fast at any depth), then `skip` more;
    with `q`, of the notes whose text matches it (`matching`)."""
    values: dict[str, Any] = {"take": take, "skip": skip}
    if after is not None:
        values["after"] = after
    if completed is not None:
        values["completed"] = completed
    if q is None:
        return await database.fetch_all(PAGES[after is not None, completed is not None], values)
    values["q"] = q
    search = search_pages(text_search_config)[after is not None, completed is not None]
    async with database.transaction():
        await database.execute(CUSTOM_PLANS)
        return await database.fetch_all(search, values=values)


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


async def replace_note(
    database: Database, *, note_id: int, text: str, completed: bool, expected: Expected = None
) -> NoteRow:
    return await update_note(
        database,
        note_id=note_id,
        changes={"text": text, "completed": completed},
        expected=expected,
    )


async def update_note(
    database: Database, *, note_id: int, changes: Mapping[str, Any], expected: Expected = None
) -> NoteRow:
    """Set the given columns; with nothing to change, return the note as it is."""
    unknown = set(changes) - set(WRITABLE)
    if unknown:
        raise ValueError(f"not writable: {sorted(unknown)}")
    if not changes:
        current = await get_note(database, note_id=note_id)
        if isinstance(expected, frozenset) and current["version"] not in expected:
            raise PreconditionFailedError(note_id)
        return current
    columns = tuple(name for name in WRITABLE if name in changes)
    values = {"note_id": note_id, **changes} | _versions(expected)
    note = await database.fetch_one(UPDATES[columns, isinstance(expected, frozenset)], values)
    return note if note is not None else _not_written(note_id, expected)


async def delete_note(database: Database, *, note_id: int, expected: Expected = None) -> NoteRow:
    """Delete the note; answer it as it was."""
    values = {"note_id": note_id} | _versions(expected)
    note = await database.fetch_one(DELETES[isinstance(expected, frozenset)], values)
    return note if note is not None else _not_written(note_id, expected)


def _versions(expected: Expected) -> dict[str, list[int]]:
    return {"versions": list(expected)} if isinstance(expected, frozenset) else {}


def _not_written(note_id: int, expected: Expected) -> NoteRow:
    # No row written: without a condition, the note is not there (404). With one, the condition
    # failed, whether the note is at another version or gone: If-Match is false when there is no
    # current version (RFC 9110, 13.1.1), and the client learns that from the 412.
    if expected is None:
        raise NoteNotFoundError(note_id)
    raise PreconditionFailedError(note_id)
