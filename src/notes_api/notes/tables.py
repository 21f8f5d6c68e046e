"""The notes table, in SQLAlchemy Core. The Alembic migrations in notes_api/migrations create it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    FetchedValue,
    Identity,
    String,
    Table,
    false,
    func,
    text,
)

from notes_api.database import metadata

TEXT_MAX_LENGTH = 100
# The largest id a bigint column holds; a larger one in a path is refused before it reaches SQL.
ID_MAX = 2**63 - 1

notes = Table(
    "notes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("text", String(TEXT_MAX_LENGTH), nullable=False),
    Column("completed", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # A trigger (see the first migration) keeps updated_at current on every UPDATE, whoever issues
    # it: the API, Adminer or psql.
    Column(
        "updated_at",
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
        server_onupdate=FetchedValue(),
    ),
    # The note's version: 1 when created, one more at every UPDATE (the same trigger, since the
    # second migration). Its ETag is made from it, and `If-Match` compares against it.
    Column(
        "version",
        BigInteger,
        nullable=False,
        server_default=text("1"),
        server_onupdate=FetchedValue(),
    ),
)

# Indexes the migrations make that are not declared here, which `make migration` leaves alone: the
# search index (migration 0003) is an expression of TEXT_SEARCH_CONFIG, a setting
# (notes/service.py, `matching`).
UNDECLARED_INDEXES = frozenset({"ix_notes_text_search"})
