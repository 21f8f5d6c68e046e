"""What routes ask for: the database of this process, to write or to read."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from notes_api.database import Database
from notes_api.errors import INVALID, invalid_header


async def get_database(request: Request) -> Database:
    """The database of this process, put in the request's state by the lifespan: one pool per
    process, no module global."""
    # `async` although it awaits nothing: FastAPI runs a plain `def` dependency in a thread pool,
    # which cost more than the rest of a GET /notes/{id} (docs/performance.md, step 1).
    database: Database = request.state.database
    return database


# How every route reaches the database: FastAPI's way to hand a route what it needs, and what
# tests override.
DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_read_database(request: Request) -> Database:
    """Where this request reads: the replicas when DATABASE_READ_URL is set, but the primary with
    `Read-From: primary`; with no replicas, the one database."""
    # The header is read here rather than declared as a `Header` parameter: FastAPI's parsing
    # and validation of it cost every read (docs/performance.md, step 17); READ_FROM documents it.
    state = request.state
    match request.headers.get("read-from"):
        case None | "replica":
            database: Database = state.read_database
        case "primary":
            database = state.database
        case other:
            raise invalid_header("read-from", other, "'replica' or 'primary'")
    return database


# The Read-From header, as OpenAPI shows it on each read route (`openapi_extra=READ_FROM`).
READ_FROM: dict[str, Any] = {
    "parameters": [
        {
            "name": "Read-From",
            "in": "header",
            "required": False,
            "schema": {"enum": ["replica", "primary"], "type": "string", "default": "replica"},
            "description": (
                "`primary`: read from the primary database, not a replica, to see a write just "
                "made (replicas lag it a little). Without DATABASE_READ_URL every read is."
            ),
        }
    ],
    # An unknown value is a 422, which OpenAPI shows as FastAPI shows its own validation errors.
    "responses": INVALID,
}

# How read routes reach the database: GET /notes, /notes/{id}, /notes/all.
ReadDatabaseDep = Annotated[Database, Depends(get_read_database)]
