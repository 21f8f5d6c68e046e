"""Schema changes on a table the service is writing to: take its lock briefly, or not at all.

A statement that needs a table's ACCESS EXCLUSIVE lock (ALTER TABLE, even one that rewrites
nothing) waits behind every transaction using the table, and every write that comes after waits
behind it: one long transaction would stop all writes for as long as it runs. So the statement
waits at most LOCK_TIMEOUT for its lock; if it does not get it, it gives up (the writes queued
behind it go on) and tries again a little later, up to ATTEMPTS times.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy.exc import DBAPIError

LOCK_TIMEOUT = "500ms"
ATTEMPTS = 60
# Seconds between attempts: a little more each time, at most MAX_PAUSE.
PAUSE, MAX_PAUSE = 0.05, 1.0
# PostgreSQL's SQLSTATE for "could not obtain lock" (lock_not_available).
LOCK_NOT_AVAILABLE = "55P03"


def with_lock_retries(statement: str) -> None:
    """Run `statement` (one that takes a table's lock) within the migration's transaction,
    waiting at most LOCK_TIMEOUT for the lock at each of ATTEMPTS tries."""
    connection = op.get_bind()
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    pause = PAUSE
    for attempt in range(1, ATTEMPTS + 1):
        # A savepoint: a try that failed is rolled back alone, not the migration's transaction.
        savepoint = connection.begin_nested()
        try:
            connection.exec_driver_sql(statement)
        except DBAPIError as error:
            savepoint.rollback()
            if _sqlstate(error) != LOCK_NOT_AVAILABLE or attempt == ATTEMPTS:
                raise
            # Paused by the server: the event loop the migration runs on goes on meanwhile.
            connection.exec_driver_sql(f"SELECT pg_sleep({pause})")
            pause = min(pause * 2, MAX_PAUSE)
        else:
            savepoint.commit()
            break
    connection.exec_driver_sql("SET LOCAL lock_timeout = 0")


def _sqlstate(error: DBAPIError) -> str | None:
    sqlstate: str | None = getattr(error.orig, "sqlstate", None)
    return sqlstate
