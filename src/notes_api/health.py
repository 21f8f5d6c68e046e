"""Where the service says what it is and whether it can serve: /, /health and /ready."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from notes_api import __version__
from notes_api.database import Database, DatabaseUnavailableError
from notes_api.dependencies import DatabaseDep
from notes_api.errors import RETRY_AFTER, RETRY_AFTER_HEADER
from notes_api.observability import metrics

router = APIRouter(tags=["service"])
logger = logging.getLogger(__name__)

# Where the database was reached, as it says: its address and port ("local socket" over a Unix
# socket). Plain SQL runs through databases' own path too.
SERVER_ADDRESS = (
    "SELECT coalesce(host(inet_server_addr()) || ':' || inet_server_port(), 'local socket')"
)


class ServiceInfo(BaseModel):
    name: str
    version: str
    links: dict[str, str]


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(Health):
    """/ready's answer. Where DATABASE_URL names several hosts, or reads go to replicas, it says
    which server each reached (host:port, as the server tells it)."""

    database: str | None = Field(default=None, examples=["10.0.0.12:5432"])
    reads: str | None = Field(default=None, examples=["10.0.0.13:5432"])


@router.get("/")
async def root(request: Request) -> ServiceInfo:
    """The service's name, version and where to go next."""
    links = {"docs": "/docs", "redoc": "/redoc", "openapi": "/openapi.json"}
    links |= {"notes": "/notes", "health": "/health", "ready": "/ready"}
    return ServiceInfo(name=request.app.title, version=__version__, links=links)


@router.get("/health")
async def health() -> Health:
    """The process is alive (it does not look at the database)."""
    return Health(status="ok")


@router.get(
    "/ready",
    response_model_exclude_none=True,
    responses={
        503: {
            "model": Health,
            "description": "The database does not answer; ask again after `Retry-After` seconds.",
            "headers": RETRY_AFTER_HEADER,
            "content": {"application/json": {"example": {"status": "unavailable"}}},
        }
    },
)
async def ready(database: DatabaseDep, request: Request, response: Response) -> Readiness:
    """The service can serve: the database answers (and says which server it is, when there is
    more than one to choose from)."""
    reads: Database = request.state.read_database
    try:
        reached = await database.fetch_val(SERVER_ADDRESS)
        # A read falls back to the primary by itself: this fails only when the primary does.
        read_from = await reads.fetch_val(SERVER_ADDRESS) if reads is not database else None
    except DatabaseUnavailableError as error:
        logger.warning("Not ready: %s", type(error.__cause__ or error).__name__)
        metrics.UNAVAILABLE.labels("not_ready").inc()
        response.status_code = 503
        response.headers.update(RETRY_AFTER)
        return Readiness(status="unavailable")
    if len(database.target.hosts) < 2 and read_from is None:
        return Readiness(status="ready")  # one server: nothing to tell
    return Readiness(status="ready", database=reached, reads=read_from)
