"""The reference app `make bench` measures the service against: the same table and queries, with
nothing between HTTP and asyncpg but Starlette's routing and orjson.

It is the floor a FastAPI + databases service can approach, not a second implementation: it checks
only what a request needs to be served (a JSON object with text), and answers 404 like the service.

    DATABASE_URL=postgresql://... python bench/reference.py --port 5301
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

COLUMNS = "id, text, completed, created_at, updated_at"
GET = f"SELECT {COLUMNS} FROM notes WHERE id = $1"
LIST = f"SELECT {COLUMNS} FROM notes ORDER BY id LIMIT $1 OFFSET $2"
CREATE = f"INSERT INTO notes (text, completed) VALUES ($1, $2) RETURNING {COLUMNS}"
REPLACE = f"UPDATE notes SET text = $1, completed = $2 WHERE id = $3 RETURNING {COLUMNS}"
NOT_FOUND = Response(b'{"detail":"Note not found"}', 404, media_type="application/json")


def json(content: Any) -> Response:
    return Response(orjson.dumps(content, option=orjson.OPT_UTC_Z), media_type="application/json")


async def get_note(request: Request) -> Response:
    pool: asyncpg.Pool = request.state.pool
    row = await pool.fetchrow(GET, int(request.path_params["note_id"]))
    return NOT_FOUND if row is None else json(dict(row))


async def list_notes(request: Request) -> Response:
    pool: asyncpg.Pool = request.state.pool
    take = int(request.query_params.get("take", 20))
    skip = int(request.query_params.get("skip", 0))
    return json([dict(row) for row in await pool.fetch(LIST, take, skip)])


async def create_note(request: Request) -> Response:
    pool: asyncpg.Pool = request.state.pool
    body = orjson.loads(await request.body())
    row = await pool.fetchrow(CREATE, body["text"], body.get("completed", False))
    return json(dict(row))


async def replace_note(request: Request) -> Response:
    pool: asyncpg.Pool = request.state.pool
    body = orjson.loads(await request.body())
    row = await pool.fetchrow(
        REPLACE, body["text"], body.get("completed", False), int(request.path_params["note_id"])
    )
    return NOT_FOUND if row is None else json(dict(row))


def create_app(url: str) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, asyncpg.Pool]]:
        # The service's default pool: 2 to 10 connections.
        async with asyncpg.create_pool(url, min_size=2, max_size=10) as pool:
            yield {"pool": pool}

    return Starlette(
        routes=[
            Route("/notes", list_notes, methods=["GET"]),
            Route("/notes", create_note, methods=["POST"]),
            Route("/notes/{note_id:int}", get_note, methods=["GET"]),
            Route("/notes/{note_id:int}", replace_note, methods=["PUT"]),
        ],
        lifespan=lifespan,
    )


def serve(create: Callable[[str], ASGIApp], *, description: str, port: int) -> None:
    """Parse --host and --port, and run the app `create` makes for DATABASE_URL, without logs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    args = parser.parse_args()
    uvicorn.run(
        create(os.environ["DATABASE_URL"]),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    serve(create_app, description=__doc__.splitlines()[0], port=5001)
