"""Full-text search over the notes' text: a GIN index on its words, for `GET /notes?q=`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Safe on a live, large notes table: the index is built CONCURRENTLY (migrations/live.py), so writes
go on while it reads the table; no column is added, so nothing is rewritten. The words are those
of `to_tsvector(<TEXT_SEARCH_CONFIG>, text)`, the very expression the search's queries use
(notes/search.py): PostgreSQL uses an expression index only for its own expression.
"""

from collections.abc import Sequence

from alembic import context

from notes_api.migrations.live import create_index_concurrently, drop_index_concurrently

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_notes_text_search"


def upgrade() -> None:
    # Checked by Settings' pattern (a plain name), so it can go into the statement as it is.
    config = context.config.attributes.get("text_search_config", "simple")
    create_index_concurrently(
        INDEX, "notes", f"USING gin (to_tsvector('{config}'::regconfig, text))"
    )


def downgrade() -> None:
    drop_index_concurrently(INDEX)
