"""The data layer's failures, in its own words: what the rest of the service catches and answers.

asyncpg raises dozens of exception types; what a caller can do about one comes down to a few
cases, each a class here: the database is unavailable (retry later), read-only (retry, perhaps on
another server), or it refused a value. The data layer raises these, with the driver's error as
`__cause__`; nothing above it needs to know asyncpg. An error not listed here (a bug: SQL that
does not run) passes through as the driver raised it.
"""

from __future__ import annotations

import asyncpg


class DatabaseError(Exception):
    """A failure of the database, not of the caller; the driver's error is `__cause__`."""


class DatabaseUnavailableError(DatabaseError):
    """The database is down, restarting, unreachable or too busy: retry shortly."""


class StatementTimeoutError(DatabaseUnavailableError):
    """The statement ran past DB_STATEMENT_TIMEOUT, and PostgreSQL cancelled it."""


class ReadOnlyError(DatabaseError):
    """The database takes no writes (a standby, or set read-only); the primary would."""


class ValueRejectedError(DatabaseError):
    """The database refused a value (a constraint, a type): validation should have caught it."""


# The one list of the driver's errors that mean "the database is unavailable": the server is down,
# restarting or unreachable (OSError, TimeoutError included), the connection was lost
# (PostgresConnectionError), the server is shutting down or cancelled the statement
# (OperatorInterventionError), or asyncpg's protocol was left half-way by a dropped connection
# ("cannot switch to state 12"), or no host is what target_session_attrs asks for
# (InternalClientError). The connector passes over a host for the same reasons.
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InternalClientError,
)
REJECTED: tuple[type[Exception], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
)
# Every driver error that `translated` turns into one of ours.
TRANSLATED: tuple[type[Exception], ...] = (
    *UNAVAILABLE,
    *REJECTED,
    asyncpg.ReadOnlySQLTransactionError,
)


def translated(error: Exception) -> DatabaseError:
    """Ours for a driver's error of TRANSLATED: `raise translated(error) from error`."""
    reason = f"{type(error).__name__}: {error}"
    if isinstance(error, asyncpg.QueryCanceledError):
        return StatementTimeoutError(reason)
    if isinstance(error, asyncpg.ReadOnlySQLTransactionError):
        return ReadOnlyError(reason)
    if isinstance(error, REJECTED):
        return ValueRejectedError(reason)
    return DatabaseUnavailableError(reason)
