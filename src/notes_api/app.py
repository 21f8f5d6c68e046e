"""The application factory: settings in, a FastAPI app out, its database opened by its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import TypedDict

from databases import Database
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from notes_api import __version__, errors
from notes_api.config import Settings
from notes_api.database import open_database
from notes_api.middleware import LenientJSONBody
from notes_api.routes import health, notes


class State(TypedDict):
    database: Database


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Without settings, read them from the environment (uvicorn's --factory)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with open_database(settings) as database:
            yield {"database": database}

    app = FastAPI(
        title="notes-api",
        version=__version__,
        description=resources.files("notes_api").joinpath("description.md").read_text(),
        lifespan=lifespan,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Link"],
        )
    if settings.lenient_content_type:
        app.add_middleware(LenientJSONBody)
    errors.install(app)
    app.include_router(health.router)
    app.include_router(notes.router)
    return app
