"""CRUD on /notes. Each route validates, calls one service function, and shapes the answer.

Answers are written from the database rows with orjson (see `responses.py`); `response_model`
still tells OpenAPI what they hold.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from notes_api import service
from notes_api.dependencies import NOT_FOUND, DatabaseDep, NoteId, ReadDatabaseDep, found
from notes_api.responses import MEDIA_TYPE, json_array, row_response, rows_response
from notes_api.schemas import ErrorMessage, Note, NoteIn, NotePatch
from notes_api.tables import ID_MAX

router = APIRouter(prefix="/notes", tags=["notes"])

MAX_TAKE = 100
# Offsets make PostgreSQL read and throw away `skip` rows; past this, page with the `after` cursor.
MAX_SKIP = 10_000
# Rows read from the database cursor, and written out, at a time by GET /notes/all.
EXPORT_BATCH_ROWS = 1_000

NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorMessage, "description": NOT_FOUND}
}


@router.post("", status_code=status.HTTP_200_OK, response_model=Note)
async def create_note(note: NoteIn, database: DatabaseDep) -> Response:
    """Create a note."""
    return row_response(
        await service.create_note(database, text=note.text, completed=note.completed)
    )


@router.get(
    "",
    response_model=list[Note],
    responses={200: {"headers": {"Link": {"description": 'rel="next": the following page'}}}},
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
    if len(page) == take:
        query: dict[str, int | str] = {"after": page[-1]["id"], "take": take}
        if completed is not None:
            query["completed"] = str(completed).lower()
        headers["Link"] = f'</notes?{urlencode(query)}>; rel="next"'
    return rows_response(page, headers)


@router.get(
    "/all",
    response_model=list[Note],
    responses={200: {"description": "Every note, streamed."}},
)
async def export_notes(database: ReadDatabaseDep) -> StreamingResponse:
    """Every note in id order, streamed from the database as it is read."""
    batches = service.iterate_notes(database, batch=EXPORT_BATCH_ROWS)
    return StreamingResponse(json_array(batches), media_type=MEDIA_TYPE)


@router.get("/{note_id}", response_model=Note, responses=NOT_FOUND_RESPONSE)
async def get_note(note_id: NoteId, database: ReadDatabaseDep) -> Response:
    """One note."""
    return row_response(found(await service.get_note(database, note_id=note_id)))


@router.put("/{note_id}", response_model=Note, responses=NOT_FOUND_RESPONSE)
async def replace_note(note_id: NoteId, note: NoteIn, database: DatabaseDep) -> Response:
    """Replace a note's text and completed flag."""
    replaced = await service.replace_note(
        database, note_id=note_id, text=note.text, completed=note.completed
    )
    return row_response(found(replaced))


@router.patch("/{note_id}", response_model=Note, responses=NOT_FOUND_RESPONSE)
async def update_note(note_id: NoteId, patch: NotePatch, database: DatabaseDep) -> Response:
    """Change the fields given, keep the others."""
    updated = await service.update_note(database, note_id=note_id, changes=patch.changes())
    return row_response(found(updated))


@router.delete("/{note_id}", response_model=Note, responses=NOT_FOUND_RESPONSE)
async def delete_note(note_id: NoteId, database: DatabaseDep) -> Response:
    """Delete a note and return it as it was."""
    deleted = await service.delete_note(database, note_id=note_id)
    return row_response(found(deleted))
