"""FastAPI's floor, which `make bench` measures beside the service and the reference app: the
reference's database code and answers (a raw asyncpg pool, orjson) behind FastAPI routes that
declare and validate what the service's routes do (the same path and query parameters, with their
bounds, and the NoteIn body), and nothing else: no middleware, no access log, no dependency, and
FastAPI's own OpenTelemetry off, as the service has it (app.py).

What separates the service from this is the service's own cost; what separates this from the
reference is FastAPI's. It is not a way to write the service.

    DATABASE_URL=postgresql://... python bench/floor.py --port 5302
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import FastAPI, Query, Request, Response
from reference import CREATE, GET, LIST, NOT_FOUND, REPLACE, json, serve  # bench/reference.py

from notes_api.notes.routes import MAX_SKIP, MAX_TAKE, NoteId
from notes_api.notes.schemas import NoteIn
from notes_api.notes.tables import ID_MAX


def create_app(url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, asyncpg.Pool]]:
        # The reference's pool: asyncpg's defaults, 2 to 10 connections.
        async with asyncpg.create_pool(url, min_size=2, max_size=10) as pool:
            yield {"pool": pool}

    app = FastAPI(lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/notes")
    async def list_notes(
        request: Request,
        take: Annotated[int, Query(ge=1, le=MAX_TAKE)] = 20,
        skip: Annotated[int, Query(ge=0, le=MAX_SKIP)] = 0,
        after: Annotated[int | None, Query(ge=0, le=ID_MAX)] = None,
        completed: bool | None = None,
    ) -> Response:
        # The service's parameters, validated; the reference's page query (the benchmark asks
        # for `take` only).
        rows = await request.state.pool.fetch(LIST, take, skip)
        return json([dict(row) for row in rows])

    @app.post("/notes")
    async def create_note(request: Request, note: NoteIn) -> Response:
        row = await request.state.pool.fetchrow(CREATE, note.text, note.completed)
        return json(dict(row))

    @app.get("/notes/{note_id}")
    async def get_note(request: Request, note_id: NoteId) -> Response:
        row = await request.state.pool.fetchrow(GET, note_id)
        return NOT_FOUND if row is None else json(dict(row))

    @app.put("/notes/{note_id}")
    async def replace_note(request: Request, note_id: NoteId, note: NoteIn) -> Response:
        row = await request.state.pool.fetchrow(REPLACE, note.text, note.completed, note_id)
        return NOT_FOUND if row is None else json(dict(row))

    return app


if __name__ == "__main__":
    serve(create_app, description=__doc__.splitlines()[0], port=5002)
