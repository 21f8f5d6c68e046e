"""Alembic environment: runs the migrations on the connection notes_api.database.migrations hands
over, inside its transaction and advisory lock. There is no alembic.ini: `make migrate` (that is,
`python -m notes_api.migrate`) runs them.
"""

from __future__ import annotations

from alembic import context

# Each table module defines its table on `metadata` when imported.
import notes_api.idempotency.keys
import notes_api.notes.tables  # noqa: F401
from notes_api.database import metadata

if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported: run them against a database.")

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("Run the migrations with `python -m notes_api.migrate` (make migrate).")
context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
