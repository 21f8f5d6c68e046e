"""The data layer's settings: where the database is (DATABASE_URL, DATABASE_READ_URL) and how the
service uses it (the DB_* knobs, MIGRATE_ON_START, TEXT_SEARCH_CONFIG). Part of the service's
Settings (config.py), which reads them from the environment; docs/configuration.md says what each
one does.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from notes_api.database.url import ConnectionTarget


class DatabaseSettings(BaseSettings):
    """DATABASE_URL, DATABASE_READ_URL, DB_*, MIGRATE_ON_START and TEXT_SEARCH_CONFIG."""

    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "postgresql://user:password@host:port/database. Query options: sslmode, sslrootcert, "
            "target_session_attrs. Several hosts (host1:5432,host2:5432): the first that suits "
            "target_session_attrs. Unset: start the embedded PostgreSQL."
        ),
    )
    database_read_url: SecretStr | None = Field(
        default=None,
        description=(
            "Where GET /notes, GET /notes/{id} and GET /notes/all read (read replicas), in "
            "DATABASE_URL's form. Unset: they read from DATABASE_URL. While no replica answers, "
            "reads go to DATABASE_URL."
        ),
    )
    db_pool_min_size: int = Field(default=2, ge=0, le=1000, description="Connections kept open.")
    db_pool_max_size: int = Field(default=10, ge=1, le=1000, description="Most connections open.")
    db_statement_cache_size: int = Field(
        default=100,
        ge=0,
        description="asyncpg prepared statements kept per connection; 0 behind PgBouncer.",
    )
    db_pool_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a request waits for a free connection before answering 503.",
    )
    db_connect_timeout: float = Field(
        default=5.0,
        gt=0,
        description=(
            "Seconds to open a database connection, shared among the hosts of the URL; also how "
            "long a connection's server may leave data unacknowledged before the connection "
            "counts as lost."
        ),
    )
    db_reset_session: bool = Field(
        default=False,
        description=(
            "Reset a connection's session (RESET ALL, UNLISTEN *, CLOSE ALL, advisory locks) "
            "each time it returns to the pool: one more round trip per request. The service "
            "leaves no session state; turn it on if your code does (SET, LISTEN, locks)."
        ),
    )
    db_statement_timeout: float = Field(
        default=30.0,
        ge=0,
        description=(
            "Seconds a statement may run before PostgreSQL cancels it (503); 0: no limit. "
            "Behind PgBouncer set it on the role instead (ALTER ROLE ... SET statement_timeout)."
        ),
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply pending Alembic migrations at start."
    )
    text_search_config: str = Field(
        default="simple",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description=(
            "PostgreSQL's text search configuration for `GET /notes?q=` (`simple`: any language, "
            "words as written; `english`: stems, no stop words). The search index is built with "
            "the one set when it is made: changing it later means rebuilding the index "
            "(docs/database.md)."
        ),
    )

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        ConnectionTarget.from_url(value.get_secret_value())  # a ValueError says what is wrong
        return value

    @model_validator(mode="after")
    def _pool_bounds(self) -> DatabaseSettings:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        return self

    def database_target(self) -> ConnectionTarget:
        """DATABASE_URL, parsed: the app needs one (src/main.py gives it the embedded server's)."""
        if self.database_url is None:
            raise ValueError("DATABASE_URL is unset: set it, or run `python src/main.py`")
        return ConnectionTarget.from_url(self.database_url.get_secret_value())

    def read_target(self) -> ConnectionTarget | None:
        """DATABASE_READ_URL, parsed, if it is set."""
        url = self.database_read_url
        return None if url is None else ConnectionTarget.from_url(url.get_secret_value())

    def database_arguments(self) -> dict[str, Any]:
        """Keyword arguments for `Database(...)`: the pool as the DB_* settings say."""
        return {
            "pool_timeout": self.db_pool_timeout,
            "connect_timeout": self.db_connect_timeout,
            "min_size": self.db_pool_min_size,
            "max_size": self.db_pool_max_size,
            "statement_cache_size": self.db_statement_cache_size,
            "server_settings": self.server_settings(),
            # None: asyncpg's full reset; see keep_session.
            "reset": None if self.db_reset_session else keep_session,
        }

    def server_settings(self) -> dict[str, str]:
        """PostgreSQL settings sent when each connection starts."""
        if not self.db_statement_timeout:
            return {}
        # Whole milliseconds: PostgreSQL reads a bare number as ms.
        return {"statement_timeout": str(max(1, round(self.db_statement_timeout * 1000)))}


async def keep_session(connection: asyncpg.Connection) -> None:
    """Reset nothing more when a connection returns to the pool.

    By default asyncpg sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    each time a connection returns to the pool: a second round trip for every one-statement
    request (docs/performance.md, step 10). The service's statements leave none of that state
    behind: no SET, LISTEN, session advisory lock or WITH HOLD cursor (migrations run on
    connections of their own). asyncpg still rolls back a transaction left open before it calls
    this. Code that does change the session should set DB_RESET_SESSION=true, which restores
    asyncpg's reset.
    """
