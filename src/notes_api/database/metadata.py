"""The service's one SQLAlchemy MetaData: every table (notes/tables.py, idempotency/keys.py) is
defined on it, and Alembic (migrations/env.py) compares the database against it."""

from __future__ import annotations

from sqlalchemy import MetaData

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
