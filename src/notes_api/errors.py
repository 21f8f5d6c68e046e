"""How failures become answers: a clear status, no SQL, no stack trace, no secret."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Match

logger = logging.getLogger(__name__)

# The database is down, restarting, or unreachable: the client may retry later.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.exceptions.OperatorInterventionError,
    # A connection the server dropped mid-statement can leave asyncpg's protocol half-way
    # ("cannot switch to state 12; another operation is in progress"); the pool discards it.
    asyncpg.exceptions.InternalClientError,
)
RETRY_AFTER_SECONDS = 5

CURSOR_HINT = "; to page further, follow the Link header or use ?after=<last id>"


async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("Database unavailable on %s %s: %r", request.method, request.url.path, error)
    return JSONResponse(
        {"detail": "The database is unavailable; try again shortly"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def data_rejected(request: Request, error: Exception) -> JSONResponse:
    # Validation should have refused the value already; never pass PostgreSQL's text on.
    logger.warning("Database refused a value on %s %s: %r", request.method, request.url.path, error)
    return JSONResponse({"detail": "The database refused this value"}, status_code=422)


async def read_only(request: Request, error: Exception) -> JSONResponse:
    # DATABASE_URL points at a replica (or a database set read-only): writes cannot succeed here,
    # but the service is not broken, and a proxy may route the retry to the primary.
    logger.warning(
        "Write refused by a read-only database on %s %s", request.method, request.url.path
    )
    return JSONResponse(
        {"detail": "The database is read-only; writes go to the primary"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class EscapedJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: errors echo the client's input, which may hold a lone
    surrogate that UTF-8 cannot encode (and would turn a 422 into a 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = jsonable_encoder(error.errors())
    for item in errors:
        if item.get("loc") == ["query", "skip"] and item.get("type") == "less_than_equal":
            item["msg"] += CURSOR_HINT
    return EscapedJSONResponse({"detail": errors}, status_code=422)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


async def _method_not_allowed() -> None:
    raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED)


def reserve_path(app: FastAPI, path: str) -> None:
    """Answer 405 to methods `path` does not serve, even where a later route's pattern matches it.

    `/notes/all` also matches `/notes/{note_id}`: without this, `PUT /notes/all` reaches the
    replace route and gets a 422 for a bad id, where HTTP says 405. Add it before those routes.
    """
    app.add_api_route(
        path,
        _method_not_allowed,
        methods=[m for m in METHODS if m not in ("GET", "HEAD")],
        include_in_schema=False,
    )


def allowed_methods(request: Request) -> list[str]:
    """The methods served at this request's path: for each, the route that would take it."""
    allowed = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        route = next(
            (r for r in request.app.router.routes if r.matches(scope)[0] is Match.FULL), None
        )
        if route is not None and getattr(route, "endpoint", None) is not _method_not_allowed:
            allowed.append(method)
    return allowed


async def method_not_allowed(request: Request, error: Exception) -> JSONResponse:
    # Starlette's own Allow header names only the first route matching the path; list them all.
    return JSONResponse(
        {"detail": "Method Not Allowed"},
        status_code=405,
        headers={"Allow": ", ".join(allowed_methods(request))},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, method_not_allowed)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_unavailable)
    app.add_exception_handler(asyncpg.ReadOnlySQLTransactionError, read_only)
    app.add_exception_handler(asyncpg.DataError, data_rejected)
    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, data_rejected)
