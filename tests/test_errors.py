"""errors.py: every failure's answer made in one place, and the app's handlers that give them for
the notes' and the data layer's errors. On an app of the test's own: no database needed."""

from __future__ import annotations

import json
import logging

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from notes_api import errors
from notes_api.database import (
    DatabaseError,
    DatabaseUnavailableError,
    ReadOnlyError,
    StatementTimeoutError,
    ValueRejectedError,
)
from notes_api.database.errors import translated
from notes_api.notes.service import NoteNotFoundError

FAILURES = {
    "note not found": errors.NOTE_NOT_FOUND,
    "unauthorized": errors.UNAUTHORIZED,
    "database unavailable": errors.DATABASE_UNAVAILABLE,
    "read-only": errors.READ_ONLY,
    "value rejected": errors.VALUE_REJECTED,
    "shutting down": errors.SHUTTING_DOWN,
    "body too large": errors.body_too_large(10),
    "head too large": errors.head_too_large(1024),
    "request timeout": errors.request_timeout(2.5),
    "method not allowed": errors.method_not_allowed("GET, HEAD"),
}


@pytest.mark.parametrize("name", FAILURES)
def test_a_failure_is_the_same_answer_as_bytes_as_a_response_and_as_an_exception(
    name: str,
) -> None:
    failure = FAILURES[name]
    response = failure.response()
    raised = failure.exception()

    assert json.loads(failure.body()) == {"detail": failure.detail}
    assert bytes(response.body) == failure.body()
    assert response.status_code == raised.status_code == failure.status
    assert raised.detail == failure.detail
    for header, value in failure.headers.items():
        assert response.headers[header] == value
        assert raised.headers == dict(failure.headers)


def test_every_503_says_when_to_try_again() -> None:
    unavailable = [failure for failure in FAILURES.values() if failure.status == 503]

    assert len(unavailable) == 3
    assert all(failure.headers == {"Retry-After": "5"} for failure in unavailable)


def test_the_limits_answers_name_their_limit() -> None:
    assert errors.body_too_large(65536).detail == "The request body is larger than 65536 bytes"
    assert errors.request_timeout(2.5).detail == "The request was not received within 2.5 s"
    assert errors.head_too_large(1024).detail == (
        "The request line and headers are larger than 1024 bytes"
    )


def raising(error: Exception) -> TestClient:
    """An app whose one route raises `error`, with the service's handlers installed."""
    app = FastAPI()
    errors.install(app)

    @app.get("/fail")
    async def fail() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


def driver_error(kind: type[Exception], message: str) -> DatabaseError:
    """The data layer's error for one of the driver's, as its verbs raise it (the driver's error
    as its cause)."""
    try:
        try:
            raise kind(message)
        except kind as error:
            raise translated(error) from error
    except DatabaseError as ours:
        return ours


@pytest.mark.parametrize(
    ("error", "status", "detail", "logged"),
    [
        (NoteNotFoundError(7), 404, "Note not found", None),
        (
            driver_error(asyncpg.CannotConnectNowError, "starting up"),
            503,
            "The database is unavailable; try again shortly",
            "Database unavailable on GET /fail: CannotConnectNowError('starting up')",
        ),
        (
            driver_error(asyncpg.QueryCanceledError, "statement timeout"),
            503,
            "The database is unavailable; try again shortly",
            "Database unavailable on GET /fail: QueryCanceledError('statement timeout')",
        ),
        (
            driver_error(asyncpg.ReadOnlySQLTransactionError, "read-only"),
            503,
            "The database is read-only; writes go to the primary",
            "Write refused by a read-only database on GET /fail:"
            " ReadOnlySQLTransactionError('read-only')",
        ),
        (
            driver_error(asyncpg.StringDataRightTruncationError, "too long"),
            422,
            "The database refused this value",
            "Database refused a value on GET /fail: StringDataRightTruncationError('too long')",
        ),
    ],
)
def test_the_notes_and_the_data_layers_errors_get_their_answers(
    error: Exception,
    status: int,
    detail: str,
    logged: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="notes_api.errors")

    answer = raising(error).get("/fail")

    assert answer.status_code == status
    assert answer.json() == {"detail": detail}
    assert answer.headers.get("retry-after") == ("5" if status == 503 else None)
    assert [record.getMessage() for record in caplog.records] == ([logged] if logged else [])


def test_the_driver_errors_become_the_data_layers_own() -> None:
    assert type(driver_error(ConnectionRefusedError, "")) is DatabaseUnavailableError
    assert type(driver_error(asyncpg.QueryCanceledError, "")) is StatementTimeoutError
    assert type(driver_error(asyncpg.ReadOnlySQLTransactionError, "")) is ReadOnlyError
    assert type(driver_error(asyncpg.NotNullViolationError, "")) is ValueRejectedError


def test_an_error_no_handler_knows_is_a_500_that_says_nothing_of_it() -> None:
    answer = raising(asyncpg.UndefinedTableError('relation "nothing" does not exist')).get("/fail")

    assert answer.status_code == 500
    assert "nothing" not in answer.text
