"""CRUD on /notes. Each route validates, calls one service function, and shapes the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse

from notes_api import service
from notes_api.dependencies import NOT_FOUND, DatabaseDep, NoteDep, NoteId, found
from notes_api.schemas import ErrorMessage, Note, NoteIn, NotePatch
from notes_api.tables import ID_MAX

router = APIRouter(prefix="/notes", tags=["notes"])

MAX_TAKE = 100
# Offsets make PostgreSQL read and throw away `skip` rows; past this, page with the `after` cursor.
MAX_SKIP = 10_000
EXPORT_CHUNK_ROWS = 1_000

NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorMessage, "description": NOT_FOUND}
}


@router.post("", status_code=status.HTTP_200_OK)
async def create_note(note: NoteIn, database: DatabaseDep) -> Note:
    """Create a note."""
    return await service.create_note(database, text=note.text, completed=note.completed)


@router.get(
    "",
    responses={200: {"headers": {"Link": {"description": 'rel="next": the following page'}}}},
)
async def list_notes(
    database: DatabaseDep,
    response: Response,
    take: Annotated[int, Query(ge=1, le=MAX_TAKE, description="Page size.")] = 20,
    skip: Annotated[
        int, Query(ge=0, le=MAX_SKIP, description=f"Notes to pass over (at most {MAX_SKIP}).")
    ] = 0,
    after: Annotated[
        int | None,
        Query(ge=0, le=ID_MAX, description="Cursor: only notes with a larger id."),
    ] = None,
    completed: Annotated[bool | None, Query(description="Only (un)completed notes.")] = None,
) -> list[Note]:
    """A page of notes in id order. Follow the `Link: rel="next"` header for the next page."""
    page = await service.list_notes(
        database, take=take, skip=skip, after=after, completed=completed
    )
    if len(page) == take:
        query: dict[str, int | str] = {"after": page[-1].id, "take": take}
        if completed is not None:
            query["completed"] = str(completed).lower()
        response.headers["Link"] = f'</notes?{urlencode(query)}>; rel="next"'
    return page


@router.get(
    "/all",
    response_model=list[Note],
    responses={200: {"content": {"application/json": {}}, "description": "Every note."}},
)
async def export_notes(database: DatabaseDep) -> StreamingResponse:
    """Every note in id order, streamed from the database as it is read."""
    return StreamingResponse(_json_array(database), media_type="application/json")


async def _json_array(database: DatabaseDep) -> AsyncIterator[bytes]:
    chunk: list[str] = []
    first = True
    yield b"["
    async for note in service.iterate_notes(database):
        chunk.append(note.model_dump_json() if first else "," + note.model_dump_json())
        first = False
        if len(chunk) >= EXPORT_CHUNK_ROWS:
            yield "".join(chunk).encode()
            chunk.clear()
    yield ("".join(chunk) + "]").encode()


@router.get("/{note_id}", responses=NOT_FOUND_RESPONSE)
async def get_note(note: NoteDep) -> Note:
    """One note."""
    return note


@router.put("/{note_id}", responses=NOT_FOUND_RESPONSE)
async def replace_note(note_id: NoteId, note: NoteIn, database: DatabaseDep) -> Note:
    """Replace a note's text and completed flag."""
    return found(
        await service.replace_note(
            database, note_id=note_id, text=note.text, completed=note.completed
        )
    )


@router.patch("/{note_id}", responses=NOT_FOUND_RESPONSE)
async def update_note(note_id: NoteId, patch: NotePatch, database: DatabaseDep) -> Note:
    """Change the fields given, keep the others."""
    return found(await service.update_note(database, note_id=note_id, changes=patch.changes()))


@router.delete("/{note_id}", responses=NOT_FOUND_RESPONSE)
async def delete_note(note_id: NoteId, database: DatabaseDep) -> Note:
    """Delete a note and return it as it was."""
    return found(await service.delete_note(database, note_id=note_id))
