"""A version on each note (for ETags and If-Match), and the table of idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Safe on a live, large notes table: adding a column with a constant default changes only the
catalog (PostgreSQL 11+: no rewrite, no scan), and the brief lock it needs is taken with
`with_lock_retries` (migrations/live.py), so writes never queue behind it for long. Replacing the
trigger's function takes no table lock.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from notes_api.migrations.live import with_lock_retries

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False
    )
    # The same trigger that keeps updated_at current now counts versions too. Before the column
    # exists nothing calls it with one: the new function is in place before the column is added,
    # in the same transaction.
    op.execute(
        """
        CREATE OR REPLACE FUNCTION notes_set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            NEW.version := OLD.version + 1;
            RETURN NEW;
        END
        $$
        """
    )
    # Last: the lock it takes is held until the migration commits.
    with_lock_retries("ALTER TABLE notes ADD COLUMN version bigint DEFAULT 1 NOT NULL")


def downgrade() -> None:
    with_lock_retries("ALTER TABLE notes DROP COLUMN version")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION notes_set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.updated_at := now();
            RETURN NEW;
        END
        $$
        """
    )
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
