"""Every failure the service answers, in one place: its status, body and headers, and how OpenAPI
describes it.

A failure is answered with JSON, `{"detail": "..."}` (ErrorMessage), a clear status, and no SQL,
stack trace or secret; every 503 says when to try again (`Retry-After`). Inside the app, the
handlers `install` adds answer the notes' and the data layer's errors, and FastAPI's validation
errors; routes and dependencies raise `Failure.exception()`. Outside the app, the request limits
(serving/protocol.py, serving/guards.py) send the answers made here as bytes, and /ready takes its
`Retry-After` from here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from notes_api.database import (
    DatabaseUnavailableError,
    ReadOnlyError,
    StatementTimeoutError,
    ValueRejectedError,
)
from notes_api.notes.service import NoteNotFoundError, PreconditionFailedError
from notes_api.observability import metrics

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}


class ErrorMessage(BaseModel):
    """An error the client can act on."""

    detail: str = Field(examples=["Note not found"])


@dataclass(frozen=True)
class Failure:
    """An answer to a failure: its status, its `{"detail": ...}` body, and its headers."""

    status: int
    detail: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps({"detail": self.detail}, separators=(",", ":")).encode()

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail}, self.status, dict(self.headers))

    def exception(self) -> HTTPException:
        """To raise in a route or a dependency: FastAPI answers it with this failure's answer."""
        return HTTPException(self.status, self.detail, dict(self.headers))


NOTE_NOT_FOUND = Failure(404, "Note not found")
# If-Match named a version the note is no longer at (or the note is gone): read it again.
NOTE_CHANGED = Failure(412, "The note is not at the version If-Match names; read it again")
IF_MATCH_REQUIRED = Failure(428, "This service writes a note only with If-Match: <its ETag>")
BAD_KEY = Failure(400, "Idempotency-Key must be a string of 1 to 255 printable characters")
# The first request with this key is still running: its answer will be replayed once it is done.
KEY_IN_USE = Failure(
    409, "A request with this Idempotency-Key is in progress; retry shortly", {"Retry-After": "1"}
)
UNAUTHORIZED = Failure(
    401,
    "A valid bearer token is needed (Authorization: Bearer <token>)",
    {"WWW-Authenticate": "Bearer"},
)
DATABASE_UNAVAILABLE = Failure(503, "The database is unavailable; try again shortly", RETRY_AFTER)
# DATABASE_URL points at a replica (or a database set read-only): writes cannot succeed here, but
# the service is not broken, and a proxy may send the retry to the primary.
READ_ONLY = Failure(503, "The database is read-only; writes go to the primary", RETRY_AFTER)
# Validation should have refused the value already; never pass PostgreSQL's text on.
VALUE_REJECTED = Failure(422, "The database refused this value")
# After SIGTERM, a request cancelled before its answer began (serving/guards.py).
SHUTTING_DOWN = Failure(503, "The service is shutting down; try again shortly", RETRY_AFTER)


def body_too_large(limit: int) -> Failure:
    return Failure(413, f"The request body is larger than {limit} bytes")


def head_too_large(limit: int) -> Failure:
    return Failure(431, f"The request line and headers are larger than {limit} bytes")


def request_timeout(seconds: float) -> Failure:
    return Failure(408, f"The request was not received within {seconds:g} s")


def method_not_allowed(allow: str) -> Failure:
    """`allow`: the methods the path serves, for the `Allow` header."""
    return Failure(405, "Method Not Allowed", {"Allow": allow})


def header_refused(name: str, value: str, kind: str, message: str) -> RequestValidationError:
    """A header's value refused, answered as FastAPI answers its own validation errors (422)."""
    problem = {"type": kind, "loc": ("header", name), "input": value, "msg": message}
    return RequestValidationError([problem])


def invalid_header(name: str, value: str, expected: str) -> RequestValidationError:
    return header_refused(name, value, "literal_error", f"Input should be {expected}")


def key_reused(key: str) -> RequestValidationError:
    """The key came with another request before."""
    message = "This key was used for another request; use a new key"
    return header_refused("idempotency-key", key, "idempotency_key_reused", message)


# -- how OpenAPI describes them; app.py and the routes attach each where it may be given ----------

RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds", "schema": {"type": "integer"}}}
DATABASE_DOWN: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorMessage,
        "description": "The database is unavailable, busy or read-only; retry after `Retry-After`"
        " seconds.",
        "content": {"application/json": {"example": {"detail": DATABASE_UNAVAILABLE.detail}}},
        "headers": RETRY_AFTER_HEADER,
    }
}
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {
        "model": ErrorMessage,
        "description": "The request body is over MAX_BODY_SIZE.",
        "content": {"application/json": {"example": {"detail": body_too_large(65536).detail}}},
    }
}
# Given by FastAPI when a body cannot be decoded as JSON text.
NOT_JSON: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorMessage,
        "description": "The body is not JSON text (not UTF-8, say), or Idempotency-Key is"
        " malformed.",
    }
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorMessage, "description": NOTE_NOT_FOUND.detail}
}
CONDITIONAL: dict[int | str, dict[str, Any]] = {
    412: {"model": ErrorMessage, "description": NOTE_CHANGED.detail},
    428: {"model": ErrorMessage, "description": "If-Match is missing (REQUIRE_IF_MATCH=true)."},
}
KEYED: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorMessage,
        "description": KEY_IN_USE.detail,
        "headers": {"Retry-After": RETRY_AFTER_HEADER["Retry-After"]},
    }
}
BAD_TOKEN: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorMessage,
        "description": "The bearer token is missing or wrong.",
        "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    }
}
# As OpenAPI shows FastAPI's own validation errors, for a 422 a dependency gives (as raw
# OpenAPI, for a route's `openapi_extra`).
INVALID: dict[str, dict[str, Any]] = {
    "422": {
        "description": "Validation Error",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
        },
    }
}


# -- the app's handlers ---------------------------------------------------------------------------

CURSOR_HINT = "; to page further, follow the Link header or use ?after=<last id>"


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


async def note_not_found(request: Request, error: Exception) -> JSONResponse:
    return NOTE_NOT_FOUND.response()


async def note_changed(request: Request, error: Exception) -> JSONResponse:
    return NOTE_CHANGED.response()


async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
    _log("Database unavailable", request, error)
    timeout = isinstance(error, StatementTimeoutError)
    metrics.UNAVAILABLE.labels("statement_timeout" if timeout else "database_unavailable").inc()
    return DATABASE_UNAVAILABLE.response()


async def read_only(request: Request, error: Exception) -> JSONResponse:
    _log("Write refused by a read-only database", request, error)
    metrics.UNAVAILABLE.labels("read_only").inc()
    return READ_ONLY.response()


async def value_rejected(request: Request, error: Exception) -> JSONResponse:
    _log("Database refused a value", request, error)
    return VALUE_REJECTED.response()


def _log(what: str, request: Request, error: Exception) -> None:
    cause = error.__cause__ or error  # the driver's error, which says what happened
    logger.warning("%s on %s %s: %r", what, request.method, request.url.path, cause)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(NoteNotFoundError, note_not_found)
    app.add_exception_handler(PreconditionFailedError, note_changed)
    app.add_exception_handler(DatabaseUnavailableError, database_unavailable)
    app.add_exception_handler(ReadOnlyError, read_only)
    app.add_exception_handler(ValueRejectedError, value_rejected)
