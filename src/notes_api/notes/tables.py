"""The notes table, in SQLAlchemy Core. The Alembic migrations in notes_api/migrations create it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    FetchedValue,
    Identity,
    MetaData,
    String,
    Table,
    false,
    func,
)

# Constraint names Alembic can find again when a later migration alters them.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

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
)
