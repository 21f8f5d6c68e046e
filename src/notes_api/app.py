"""The application factory: settings in, a FastAPI app out, its database opened by its lifespan."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, params
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from notes_api import __version__, api_docs, auth, errors
from notes_api.config import Settings
from notes_api.lifespan import lifespan
from notes_api.middleware import Guards
from notes_api.routes import health, notes


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Without settings, read them from the environment (uvicorn's --factory)."""
    settings = settings or Settings()

    app = FastAPI(
        title="notes-api",
        version=__version__,
        description=resources.files("notes_api").joinpath("description.md").read_text(),
        lifespan=lifespan(settings),
        responses=errors.TOO_LARGE,
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
        lenient_json=settings.lenient_content_type,
    )
    errors.install(app)
    # Routes match in the order they are added: the notes first, since nearly every request is
    # for one of them (the health checks come a few times a minute); the reads before the writes
    # (see notes.refuse_other_methods).
    write_guard = (
        [] if settings.api_token is None else [Depends(auth.token_guard(settings.api_token))]
    )
    read_guard = write_guard if settings.api_token_reads else []
    add_routes(
        app,
        notes.reads,
        dependencies=read_guard,
        responses=errors.DATABASE_DOWN | (auth.UNAUTHORIZED_RESPONSE if read_guard else {}),
    )
    add_routes(
        app,
        notes.writes,
        dependencies=write_guard,
        responses=errors.NOT_JSON
        | errors.DATABASE_DOWN
        | (auth.UNAUTHORIZED_RESPONSE if write_guard else {}),
    )
    add_routes(app, health.router)
    api_docs.install(app)
    return app


def add_routes(
    app: FastAPI,
    router: APIRouter,
    *,
    dependencies: Sequence[params.Depends] = (),
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> None:
    """Add the router's routes to the app itself, with these dependencies and responses too.

    What `app.include_router` does, but for what it keeps at request time: FastAPI 0.16x
    matches an included router's routes through a layer of its own, which cost every request
    about 7% (docs/performance.md, step 17). Each route is added again with all it was made with.
    """
    for route in router.routes:
        assert isinstance(route, APIRoute), f"not an API route: {route!r}"
        options = {name: getattr(route, name) for name in ROUTE_OPTIONS}
        options["dependencies"] = [*dependencies, *route.dependencies]
        options["responses"] = (responses or {}) | route.responses
        app.router.add_api_route(**options)


# What `add_api_route` takes, and an APIRoute keeps under the same name.
ROUTE_OPTIONS = [
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in ("self", "route_class_override")
]
