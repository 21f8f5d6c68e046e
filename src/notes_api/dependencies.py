"""What routes ask for: the database of this process, a valid note id, a note that exists."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status

from notes_api.database import Database
from notes_api.service import NoteRow
from notes_api.tables import ID_MAX

NOT_FOUND = "Note not found"


async def get_database(request: Request) -> Database:
    """The database of this process, put in the request's state by the lifespan (app.py): one
    pool per process, no module global."""
    # `async` although it awaits nothing: FastAPI runs a plain `def` dependency in a thread pool,
    # which cost more than the rest of a GET /notes/{id} (docs/performance.md).
    database: Database = request.state.database
    return database


# How every route reaches the database. One level of `Depends` costs a GET /notes/{id} about 4%
# (docs/performance.md): FastAPI's way to hand a route what it needs, and what tests override.
DatabaseDep = Annotated[Database, Depends(get_database)]

# Ids outside bigint's range cannot name a note; refusing them here keeps them away from SQL.
NoteId = Annotated[int, Path(ge=1, le=ID_MAX, description="The note's id.")]


def found(note: NoteRow | None) -> NoteRow:
    """The note, or a 404 when the statement found none."""
    if note is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return note
