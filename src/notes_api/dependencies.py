"""What routes ask for: the database of this process (to write, or to read), a valid note id."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Header, Path, Request

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


async def get_read_database(
    request: Request,
    read_from: Annotated[
        Literal["replica", "primary"],
        Header(
            description=(
                "`primary`: read from the primary database, not a replica, to see a write just "
                "made (replicas lag it a little). Without DATABASE_READ_URL every read is."
            )
        ),
    ] = "replica",
) -> Database:
    """Where this request reads: the replicas when DATABASE_READ_URL is set (replicas.py), or
    the primary when the client asks for it."""
    database: Database = (
        request.state.database if read_from == "primary" else request.state.read_database
    )
    return database


# How read routes reach the database: GET /notes, /notes/{id}, /notes/all.
ReadDatabaseDep = Annotated[Database, Depends(get_read_database)]

# Ids outside bigint's range cannot name a note; refusing them here keeps them away from SQL.
NoteId = Annotated[int, Path(ge=1, le=ID_MAX, description="The note's id.")]
