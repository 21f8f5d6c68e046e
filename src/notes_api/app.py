"""The application factory: settings in, a FastAPI app out, its database opened by its lifespan.

Read this first. A request for a note goes: the route in notes/routes.py, which asks FastAPI for
the database (dependencies.py) and calls one function of notes/service.py, which runs a Core
statement on the `notes` table (notes/tables.py); errors.py answers what fails. The folders
database/, serving/, observability/ and development/ hold the machinery beneath: each says what
it is for.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources
from typing import TypedDict

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from notes_api import __version__, auth, errors, health
from notes_api.config import Settings
from notes_api.database import Database, open_database, open_read_database
from notes_api.idempotency.keys import removing_expired
from notes_api.notes import routes as notes
from notes_api.observability.metrics import Served
from notes_api.observability.page import metrics_page
from notes_api.observability.sampled import Watched, watching
from notes_api.observability.tracing import RequestSpans, Traced, request_spans
from notes_api.serving import api_docs
from notes_api.serving.guards import Guards
from notes_api.serving.routing import add_routes, refuse_other_methods


def create_app(settings: Settings | None = None, *, spans: RequestSpans | None = None) -> FastAPI:
    """Build the app. Without settings, read them from the environment (uvicorn's --factory).
    Its requests are traced to OTEL_EXPORTER_OTLP_ENDPOINT, if set, or to `spans`' exporter."""
    settings = settings or Settings()
    spans = spans or request_spans(settings.otel_exporter_otlp_endpoint)
    served = Served() if settings.metrics else None

    app = FastAPI(
        title="notes-api",
        version=__version__,
        description=resources.files("notes_api").joinpath("description.md").read_text(),
        lifespan=lifespan(settings, spans, served),
        responses=errors.TOO_LARGE,
        # api_docs serves both pages, with Swagger UI and ReDoc from this service, not a CDN.
        docs_url=None,
        redoc_url=None,
        # FastAPI's own OpenTelemetry, off: the service traces and counts its requests itself
        # (observability/). On, it would trace each request a second time, apart from the
        # service's trace, wherever a process-wide provider is set (FASTAPI_OTEL_AUTO_CONFIGURE,
        # opentelemetry-instrument); unused, it still asks on every request whether one is set,
        # 3% of a GET /notes/{id}'s instructions (docs/performance.md, "The cost of observability").
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "If-None-Match",
                "Prefer",
                "Read-From",
            ],
            expose_headers=[
                "Content-Range",
                "ETag",
                "Idempotent-Replayed",
                "Link",
                "Preference-Applied",
            ],
        )
    if spans is not None:
        app.add_middleware(Traced, spans=spans)
    # Added after the rest, so around them: the request's ID, its metrics and the security headers
    # cover every answer, a 413 or a CORS refusal included.
    app.add_middleware(
        Guards,
        max_body_size=settings.max_body_size,
        lenient_json=settings.lenient_content_type,
        served=served,
    )
    errors.install(app)

    # Routes match in the order they are added: the notes first, since nearly every request is
    # for one of them (the health checks come a few times a minute); the reads, then the 405s
    # for methods no route of a path serves, then the writes (see refuse_other_methods).
    write_guard = (
        [] if settings.api_token is None else [Depends(auth.token_guard(settings.api_token))]
    )
    read_guard = write_guard if settings.api_token_reads else []
    add_routes(
        app,
        notes.reads,
        dependencies=read_guard,
        responses=errors.DATABASE_DOWN | (errors.BAD_TOKEN if read_guard else {}),
    )
    refuse_other_methods(app, notes.reads, notes.writes)
    add_routes(
        app,
        notes.writes,
        dependencies=write_guard,
        responses=errors.NOT_JSON
        | errors.DATABASE_DOWN
        | (errors.BAD_TOKEN if write_guard else {}),
    )
    add_routes(app, health.router)
    if settings.metrics:
        app.add_route("/metrics", metrics_page, include_in_schema=False)
    api_docs.install(app)
    return app


class State(TypedDict):
    """What the lifespan hands every request (`request.state.database`)."""

    database: Database
    read_database: Database  # the replicas (DATABASE_READ_URL), else `database` itself
    idempotency_ttl: float  # IDEMPOTENCY_TTL
    require_if_match: bool  # REQUIRE_IF_MATCH
    text_search_config: str  # TEXT_SEARCH_CONFIG
    watched: Watched | None  # the requests and databases, as /metrics reports them


def lifespan(
    settings: Settings, spans: RequestSpans | None, served: Served | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[State]]:
    """The app's lifespan: at start, migrate the database and connect (and the replicas'); while
    it serves, hand the databases to each request, remove expired idempotency keys, and keep the
    sampled metrics; at stop, close the databases."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[State]:
        async with (
            open_database(settings) as database,
            open_read_database(settings, database) as read_database,
            removing_expired(database, ttl=settings.idempotency_ttl),
            watching(served, database, read_database) as watched,
            tracing(spans),
        ):
            settle_startup_objects()
            yield {
                "database": database,
                "read_database": read_database,
                "idempotency_ttl": settings.idempotency_ttl,
                "require_if_match": settings.require_if_match,
                "text_search_config": settings.text_search_config,
                "watched": watched,
            }

    return run


@asynccontextmanager
async def tracing(spans: RequestSpans | None) -> AsyncIterator[None]:
    """The queries' spans while the app serves; the spans left sent at the end."""
    if spans is None:
        yield
        return
    spans.open()
    try:
        yield
    finally:
        spans.close()


def settle_startup_objects() -> None:
    """Keep the garbage collector's full passes off what startup built.

    Modules, the app, its routes, models and schemas live as long as the process, yet every full
    collection walked them all: under load that came often and stopped the event loop for long
    enough to be most of the p99 latency (docs/performance.md, step 14). Frozen, they are left out
    of collections; they are still freed by reference counting should they go. The garbage made
    so far is collected first.
    """
    gc.collect()
    gc.freeze()
