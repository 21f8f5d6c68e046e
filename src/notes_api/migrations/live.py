"""Schema changes on a table the service is writing to: take its lock briefly, or not at all.

A statement that needs a table's ACCESS EXCLUSIVE lock (ALTER TABLE, even one that rewrites
nothing) waits behind every transaction using the table, and every write that comes after waits
behind it: one long transaction would stop all writes for as long as it runs. So the statement
waits at most LOCK_TIMEOUT for its lock; if it does not get it, it gives up (the writes queued
behind it go on) and tries again a little later, up to ATTEMPTS times (`with_lock_retries`).

An index is built without that lock at all, `CONCURRENTLY` (`create_index_concurrently`): writes
go on while PostgreSQL reads the table, however long that takes. Such a statement cannot run in a
transaction, so it steps out of the migration's, in Alembic's autocommit block.
"""

from __future__ import annotations

from alembic import op
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
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
    if op.get_context().as_sql:  # offline: the SQL of one try is what there is to read
        op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        op.execute(statement)
        return
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


def create_index_concurrently(name: str, table: str, definition: str) -> None:
    """`CREATE INDEX CONCURRENTLY name ON table definition` (`USING gin (...)`), outside the
    migration's transaction; an invalid index of that name, left by an interrupted build, is
    dropped and built again. Then ANALYZE, so that the planner knows an expression index's
    values at once."""
    context = op.get_context()
    with context.autocommit_block():
        # No time limit: the build takes as long as the table is big, and blocks no write.
        op.execute("SET statement_timeout = 0")
        if not context.as_sql and _invalid(context, name):
            op.execute(f"DROP INDEX CONCURRENTLY {name}")
        create = f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}"
        if context.as_sql:
            # For squawk (make check), which asks for a lock_timeout before any lock: this one
            # blocks no write, and a timeout while the build waits for older transactions would
            # leave an invalid index for the next run to drop and build again.
            create = f"-- squawk-ignore require-lock-timeout\n{create}"
        op.execute(create)
        op.execute(f"ANALYZE {table}")
        op.execute("RESET statement_timeout")


def drop_index_concurrently(name: str) -> None:
    """`DROP INDEX CONCURRENTLY IF EXISTS name`, outside the migration's transaction."""
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def _invalid(context: MigrationContext, name: str) -> bool:
    """Whether an index `name` is there but invalid: what a CREATE INDEX CONCURRENTLY that
    failed or was interrupted leaves (it is kept up to date by writes, and never used)."""
    assert context.connection is not None
    row = context.connection.execute(
        text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
        {"name": name},
    ).first()
    return row is not None and bool(row[0])


def _sqlstate(error: DBAPIError) -> str | None:
    sqlstate: str | None = getattr(error.orig, "sqlstate", None)
    return sqlstate
