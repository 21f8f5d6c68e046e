"""The application factory: settings in, a FastAPI app out, its database opened by its lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, TypedDict

from databases import Database
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from notes_api import __version__, api_docs, auth, errors
from notes_api.config import Settings
from notes_api.database import open_database
from notes_api.middleware import Guards
from notes_api.routes import health, notes
from notes_api.schemas import ErrorMessage

# Answers any route may give, documented once for all of them.
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {
        "model": ErrorMessage,
        "description": "The request body is over MAX_BODY_SIZE.",
        "content": {
            "application/json": {
                "example": {"detail": "The request body is larger than 65536 bytes"}
            }
        },
    }
}
NOT_JSON: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "The body is not JSON text (not UTF-8, say)."}
}
DATABASE_DOWN: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorMessage,
        "description": "The database is unavailable or busy; retry after `Retry-After` seconds.",
        "content": {
            "application/json": {
                "example": {"detail": "The database is unavailable; try again shortly"}
            }
        },
        "headers": {"Retry-After": {"description": "Seconds", "schema": {"type": "integer"}}},
    }
}


class State(TypedDict):
    database: Database


def settle_startup_objects() -> None:
    """Keep the garbage collector's full passes off what startup built.

    Modules, the app, its routes, models and schemas (about 110,000 objects) live as long as the
    process, yet every full collection walked them all: under load that came every half second
    and stopped the event loop for up to 43 ms, about 6% of the time and most of the p99
    latency (docs/performance.md). Frozen, they are left out of collections; they are still
    freed by reference counting should they go. The garbage made so far is collected first.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Without settings, read them from the environment (uvicorn's --factory)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with open_database(settings) as database:
            settle_startup_objects()
            yield {"database": database}

    app = FastAPI(
        title="notes-api",
        version=__version__,
        description=resources.files("notes_api").joinpath("description.md").read_text(),
        lifespan=lifespan,
        responses=TOO_LARGE,
        # api_docs serves both pages, with Swagger UI and ReDoc from this service, not a CDN.
        docs_url=None,
        redoc_url=None,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Link"],
        )
    # Added last, so outermost: its headers reach every answer, a 413 or a CORS refusal included.
    app.add_middleware(
        Guards,
        max_body_size=settings.max_body_size,
        retry_after=errors.RETRY_AFTER_SECONDS,
        lenient_json=settings.lenient_content_type,
    )
    errors.install(app)
    # Routes match in the order they are added: the notes first, since nearly every request is
    # for one of them (the health checks come a few times a minute).
    errors.reserve_path(app, "/notes/all")
    notes_responses = NOT_JSON | DATABASE_DOWN
    guards = []
    if settings.api_token is not None:
        guard = auth.token_guard(settings.api_token, reads=settings.api_token_reads)
        guards.append(Depends(guard))
        notes_responses |= auth.UNAUTHORIZED_RESPONSE
        if not settings.api_token_reads:
            auth.document_open_reads(app)
    app.include_router(notes.router, dependencies=guards, responses=notes_responses)
    app.include_router(health.router)
    api_docs.install(app)
    return app
