"""CRUD on /notes, as two routers: `reads` and `writes`, which app.py guards apart (API_TOKEN).

Each route validates, calls one service function and answers the row as JSON written by orjson
(`row_response`); `response_model` tells OpenAPI what the answer holds. A note that is not there
is the service's NoteNotFoundError, which errors.py answers with 404.

Every answer with one note carries its version as `ETag`; a GET with `If-None-Match` that still
matches answers 304, and a write with `If-Match` is done only at a version it names (412 if not).
POST and PATCH with an `Idempotency-Key` are done once and replayed after (idempotency/once.py).
`Prefer: count=exact` (or `planned`) on a page adds `Content-Range: 0-19/1234`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from notes_api.dependencies import READ_FROM, DatabaseDep, ReadDatabaseDep
from notes_api.errors import CONDITIONAL, KEYED, NOT_FOUND
from notes_api.idempotency.once import KEY_HEADER, once
from notes_api.notes import counts, service
from notes_api.notes.openapi import (
    CONDITIONAL_READ,
    CONDITIONAL_WRITE,
    COUNTED_PAGE,
    COUNTED_READ,
    NOT_MODIFIED,
    NOTE_HEADERS,
)
from notes_api.notes.schemas import Note, NoteIn, NotePatch
from notes_api.notes.service import NoteRow
from notes_api.notes.tables import ID_MAX
from notes_api.serving.conditions import etag, if_match, if_none_match
from notes_api.serving.preferences import preferences
from notes_api.serving.responses import MEDIA_TYPE, json_array, row_response, rows_response

reads = APIRouter(prefix="/notes", tags=["notes"])
writes = APIRouter(prefix="/notes", tags=["notes"])

MAX_TAKE = 100
# Offsets make PostgreSQL read and throw away `skip` rows; past this, page with the `after` cursor.
MAX_SKIP = 10_000
# Characters of a search (`q`); a query is a few words.
MAX_QUERY_LENGTH = 500
# Rows read from the database cursor, and written out, at a time by GET /notes/all.
EXPORT_BATCH_ROWS = 1_000

# `Prefer: count=...` honoured.
COUNT_METHODS: dict[str, counts.Method] = {"exact": "exact", "planned": "planned"}
# A note's columns a client sees; its version is in the ETag.
PUBLIC = tuple(str(column.name) for column in service.PUBLIC)

# Ids outside bigint's range cannot name a note; refusing them here keeps them away from SQL.
NoteId = Annotated[int, Path(ge=1, le=ID_MAX, description="The note's id.")]


@reads.get("", response_model=list[Note], openapi_extra=COUNTED_READ, responses=COUNTED_PAGE)
async def list_notes(
    request: Request,
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
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_LENGTH,
            description=(
                'Only notes with these words, as a search engine reads them: `"a phrase"`, '
                "`-without`, `milk or bread`. Any text is a valid query; a blank one is none."
            ),
        ),
    ] = None,
) -> Response:
    """A page of notes in id order. Follow the `Link: rel="next"` header for the next page;
    with `Prefer: count=exact` (or `count=planned`, an estimate), `Content-Range` says where the
    page is among how many."""
    if q is not None:  # PostgreSQL's text holds no NUL, and a blank search is none
        q = q.replace("\x00", " ").strip() or None
    config = request.state.text_search_config
    page = await service.list_notes(
        database,
        take=take,
        skip=skip,
        after=after,
        completed=completed,
        q=q,
        text_search_config=config,
    )
    headers = {}
    if len(page) == take:  # a full page: there may be more
        following: dict[str, Any] = {"after": page[-1]["id"], "take": take}
        if completed is not None:
            following["completed"] = str(completed).lower()
        if q is not None:
            following["q"] = q
        headers["Link"] = f'</notes?{urlencode(following, quote_via=quote)}>; rel="next"'
    method = COUNT_METHODS.get(preferences(request).get("count", ""))
    if method is not None:
        count = await counts.count_notes(
            database,
            method=method,
            after=after,
            completed=completed,
            q=q,
            text_search_config=config,
        )
        headers["Content-Range"] = content_range(count.before + skip, len(page), count.total)
        headers["Preference-Applied"] = f"count={method}"
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


@reads.get(
    "/{note_id}",
    response_model=Note,
    responses=NOTE_HEADERS | NOT_MODIFIED | NOT_FOUND,
    openapi_extra=CONDITIONAL_READ,
)
async def get_note(note_id: NoteId, request: Request, database: ReadDatabaseDep) -> Response:
    """One note. With `If-None-Match: <its ETag>`, 304 and no body while it is unchanged."""
    note = await service.get_note(database, note_id=note_id)
    if if_none_match(request, note["version"]):
        return Response(status_code=304, headers={"ETag": etag(note["version"])})
    return note_response(note)


@writes.post(
    "",
    status_code=status.HTTP_200_OK,
    response_model=Note,
    responses=NOTE_HEADERS | KEYED,
    openapi_extra={"parameters": [KEY_HEADER]},
)
async def create_note(note: NoteIn, request: Request, database: DatabaseDep) -> Response:
    """Create a note. Safe to retry with an `Idempotency-Key`."""

    async def create() -> Response:
        created = await service.create_note(database, text=note.text, completed=note.completed)
        return note_response(created)

    return await once(request, database, create)


@writes.put(
    "/{note_id}",
    response_model=Note,
    responses=NOTE_HEADERS | NOT_FOUND | CONDITIONAL,
    openapi_extra=CONDITIONAL_WRITE,
)
async def replace_note(
    note_id: NoteId, note: NoteIn, request: Request, database: DatabaseDep
) -> Response:
    """Replace a note's text and completed flag; with `If-Match`, only at that version."""
    replaced = await service.replace_note(
        database,
        note_id=note_id,
        text=note.text,
        completed=note.completed,
        expected=if_match(request),
    )
    return note_response(replaced)


@writes.patch(
    "/{note_id}",
    response_model=Note,
    responses=NOTE_HEADERS | NOT_FOUND | CONDITIONAL | KEYED,
    openapi_extra={"parameters": [*CONDITIONAL_WRITE["parameters"], KEY_HEADER]},
)
async def update_note(
    note_id: NoteId,
    patch: NotePatch,
    request: Request,
    database: DatabaseDep,
) -> Response:
    """Change the fields given, keep the others; with `If-Match`, only at that version. Safe to
    retry with an `Idempotency-Key`."""
    expected = if_match(request)

    async def update() -> Response:
        updated = await service.update_note(
            database, note_id=note_id, changes=patch.changes(), expected=expected
        )
        return note_response(updated)

    return await once(request, database, update)


@writes.delete(
    "/{note_id}",
    response_model=Note,
    responses=NOTE_HEADERS | NOT_FOUND | CONDITIONAL,
    openapi_extra=CONDITIONAL_WRITE,
)
async def delete_note(note_id: NoteId, request: Request, database: DatabaseDep) -> Response:
    """Delete a note and return it as it was; with `If-Match`, only at that version."""
    deleted = await service.delete_note(database, note_id=note_id, expected=if_match(request))
    return note_response(deleted)


def note_response(note: NoteRow) -> Response:
    """One note as JSON, its version as its ETag."""
    public = {name: note[name] for name in PUBLIC}
    return row_response(public, {"ETag": etag(note["version"])})


def content_range(first: int, size: int, total: int) -> str:
    """`first-last/total` of a page of `size` notes from index `first`; `*/total` when empty."""
    if not size:
        return f"*/{total}"
    # An estimate (count=planned) may fall short of what the page itself shows.
    return f"{first}-{first + size - 1}/{max(total, first + size)}"
