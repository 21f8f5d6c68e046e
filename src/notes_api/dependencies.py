"""What routes ask for: the database of this process, a valid note id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from notes_api.database import Database
from notes_api.tables import ID_MAX


async def get_database(request: Request) -> Database:
    """The database of this process, put in the request's state by the lifespan: one pool per
    process, no module global."""
    # `async` although it awaits nothing: FastAPI runs a plain `def` dependency in a thread pool,
    # which cost more than the rest of a GET /notes/{id} (docs/performance.md).
    database: Database = request.state.database
    return database


# How every route reaches the database: FastAPI's way to hand a route what it needs, and what
# tests override.
DatabaseDep = Annotated[Database, Depends(get_database)]

# Ids outside bigint's range cannot name a note; refusing them here keeps them away from SQL.
NoteId = Annotated[int, Path(ge=1, le=ID_MAX, description="The note's id.")]
