"""How failures become answers: a clear status, no SQL, no stack trace, no secret."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)

# The database is down, restarting, or unreachable: the client may retry later.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.exceptions.OperatorInterventionError,
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
    app.add_exception_handler(asyncpg.DataError, data_rejected)
    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, data_rejected)
