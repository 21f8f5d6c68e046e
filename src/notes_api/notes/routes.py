"""CRUD on /notes, as two routers: `reads` and `writes`, which app.py guards apart (API_TOKEN).

Each route validates, calls one service function and answers the row as JSON written by orjson
(`row_response`); `response_model` tells OpenAPI what the answer holds. A note that is not there
is the service's NoteNotFoundError, which errors.py answers with 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from notes_api.dependencies import READ_FROM, DatabaseDep, ReadDatabaseDep
from notes_api.errors import NOT_FOUND
from notes_api.notes import service
from notes_api.notes.schemas import Note, NoteIn, NotePatch
from notes_api.notes.tables import ID_MAX
from notes_api.serving.responses import MEDIA_TYPE, json_array, row_response, rows_response

reads = APIRouter(prefix="/notes", tags=["notes"])
writes = APIRouter(prefix="/notes", tags=["notes"])

MAX_TAKE = 100
# Offsets make PostgreSQL read and throw away `skip` rows; past this, page with the `after` cursor.
MAX_SKIP = 10_000
# Rows read from the database cursor, and written out, at a time by GET /notes/all.
EXPORT_BATCH_ROWS = 1_000

# Ids outside bigint's range cannot name a note; refusing them here keeps them away from SQL.
NoteId = Annotated[int, Path(ge=1, le=ID_MAX, description="The note's id.")]


@reads.get(
    "",
    response_model=list[Note],
    openapi_extra=READ_FROM,
    responses={
        200: {
            "headers": {
                "Link": {
                    "description": 'rel="next": the following page',
                    "schema": {"type": "string"},  # OpenAPI requires a header's schema
                }
            }
        }
    },
)
async def list_notes(
    database: ReadDatabaseDep,
    take: Annotated[int, Query(ge=1, le=MAX_TAKE, description="Page size.")] = 20,
    skip: Annotated[
        int, Query(ge=0, le=MAX_SKIP, description=f"Notes to pass over (at most {MAX_SKIP}).")
    ] = 0,
    after: Annotated[
        int | None,
        Query(ge=0, le=ID_MAX, description="Cursor: only notes with a larger id."),
    ] = None,
    completed: Annotated[bool | None, Query(description="Only (un)completed notes.")] = None,
) -> Response:
    """A page of notes in id order. Follow the `Link: rel="next"` header for the next page."""
    page = await service.list_notes(
        database, take=take, skip=skip, after=after, completed=completed
    )
    headers = {}
    if len(page) == take:  # a full page: there may be more
        following = f"/notes?after={page[-1]['id']}&take={take}"
        if completed is not None:
            following += f"&completed={str(completed).lower()}"
        headers["Link"] = f'<{following}>; rel="next"'
    return rows_response(page, headers)


@reads.get(
    "/all",
    response_model=list[Note],
    openapi_extra=READ_FROM,
    responses={200: {"description": "Every note, streamed."}},
)
async def export_notes(database: ReadDatabaseDep) -> StreamingResponse:
    """Every note in id order, streamed from the database as it is read."""
    batches = service.iterate_notes(database, batch=EXPORT_BATCH_ROWS)
    return StreamingResponse(json_array(batches), media_type=MEDIA_TYPE)


@reads.get("/{note_id}", response_model=Note, responses=NOT_FOUND, openapi_extra=READ_FROM)
async def get_note(note_id: NoteId, database: ReadDatabaseDep) -> Response:
    """One note."""
    note = await service.get_note(database, note_id=note_id)
    return row_response(note)


@writes.post("", status_code=status.HTTP_200_OK, response_model=Note)
async def create_note(note: NoteIn, database: DatabaseDep) -> Response:
    """Create a note."""
    created = await service.create_note(database, text=note.text, completed=note.completed)
    return row_response(created)


@writes.put("/{note_id}", response_model=Note, responses=NOT_FOUND)
async def replace_note(note_id: NoteId, note: NoteIn, database: DatabaseDep) -> Response:
    """Replace a note's text and completed flag."""
    replaced = await service.replace_note(
        database, note_id=note_id, text=note.text, completed=note.completed
    )
    return row_response(replaced)


@writes.patch("/{note_id}", response_model=Note, responses=NOT_FOUND)
async def update_note(note_id: NoteId, patch: NotePatch, database: DatabaseDep) -> Response:
    """Change the fields given, keep the others."""
    updated = await service.update_note(database, note_id=note_id, changes=patch.changes())
    return row_response(updated)


@writes.delete("/{note_id}", response_model=Note, responses=NOT_FOUND)
async def delete_note(note_id: NoteId, database: DatabaseDep) -> Response:
    """Delete a note and return it as it was."""
    deleted = await service.delete_note(database, note_id=note_id)
    return row_response(deleted)
