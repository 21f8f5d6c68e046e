"""How failures become answers (a clear status, no SQL, no stack trace, no secret), and how OpenAPI
describes those answers."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from notes_api.schemas import ErrorMessage

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
RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds", "schema": {"type": "integer"}}}

# What OpenAPI says of these answers; app.py attaches each to the routes that may give it.
DATABASE_DOWN: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorMessage,
        "description": "The database is unavailable, busy or read-only; retry after `Retry-After`"
        " seconds.",
        "content": {
            "application/json": {
                "example": {"detail": "The database is unavailable; try again shortly"}
            }
        },
        "headers": RETRY_AFTER_HEADER,
    }
}
# Given by middleware.Guards, before a route runs.
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
# Given by FastAPI when a body cannot be decoded as JSON text.
NOT_JSON: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "The body is not JSON text (not UTF-8, say)."}
}

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


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, invalid_request)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_unavailable)
    app.add_exception_handler(asyncpg.ReadOnlySQLTransactionError, read_only)
    app.add_exception_handler(asyncpg.DataError, data_rejected)
    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, data_rejected)
