"""Where the service says what it is and whether it can serve."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from notes_api import __version__, service
from notes_api.database import Database
from notes_api.dependencies import DatabaseDep
from notes_api.errors import DATABASE_ERRORS, RETRY_AFTER_HEADER, RETRY_AFTER_SECONDS
from notes_api.schemas import Health, Readiness, ServiceInfo

router = APIRouter(tags=["service"])
logger = logging.getLogger(__name__)


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
        reached = await service.ping(database)
        # A read falls back to the primary by itself: this fails only when the primary does.
        read_from = await service.ping(reads) if reads is not database else None
    except DATABASE_ERRORS as error:
        logger.warning("Not ready: %s", type(error).__name__)
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return Readiness(status="unavailable")
    if len(database.target.hosts) < 2 and read_from is None:
        return Readiness(status="ready")  # one server: nothing to tell
    return Readiness(status="ready", database=reached, reads=read_from)
