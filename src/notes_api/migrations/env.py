"""Alembic environment: runs the migrations on the connection notes_api.database.migrations hands
over (it holds the migrations' advisory lock), each in a transaction of its own. There is no
alembic.ini: `make migrate` (that is, `python -m notes_api.migrate`) runs them.

Offline, `python -m notes_api.migrate sql` writes the migrations' SQL instead of running it: what
`make check` gives squawk, the migrations' linter, to read.
"""

from __future__ import annotations

from alembic import context

# Each table module defines its table on `metadata` when imported.
import notes_api.idempotency.keys  # noqa: F401
from notes_api.database import metadata
from notes_api.notes.tables import UNDECLARED_INDEXES


def declared(item: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
    """Whether autogenerate compares this table, column or index (not those made undeclared)."""
    return not (kind == "index" and name in UNDECLARED_INDEXES)


if context.is_offline_mode():
    context.configure(dialect_name="postgresql", literal_binds=True, transaction_per_migration=True)
else:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise SystemExit("Run the migrations with `python -m notes_api.migrate` (make migrate).")
    # A transaction per migration: one may leave its transaction for a while
    # (`CREATE INDEX CONCURRENTLY`, in 0003) without committing the others' halfway.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        include_object=declared,
        transaction_per_migration=True,
    )
with context.begin_transaction():
    context.run_migrations()
