"""Settings, read from the environment and an optional `.env` file, validated once at start."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from notes_api.database import ConnectionTarget, DatabaseOptions

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class Settings(BaseSettings):
    """Every knob the service has. `.env.example` lists them with their defaults."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        # `PORT=` (or a Makefile passing an unset variable on) means "the default".
        env_ignore_empty=True,
        extra="ignore",
    )

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
    host: str = Field(default="127.0.0.1", description="Interface the API listens on.")
    port: int = Field(default=5000, ge=1, le=65535, description="TCP port the API listens on.")
    reload: bool = Field(
        default=False, description="Restart the server when a source file changes."
    )
    workers: int = Field(default=1, ge=1, le=64, description="Server processes sharing the port.")
    shutdown_timeout: int = Field(
        default=5,
        ge=0,
        description="Seconds requests in flight get to finish after SIGTERM.",
    )
    shutdown_drain: float = Field(
        default=0,
        ge=0,
        description=(
            "Behind a load balancer: seconds an idle kept-alive connection stays open after "
            "SIGTERM, so that the balancer notices the instance going before a request it sends "
            "is left unanswered. Above its health checks' detection time, below SHUTDOWN_TIMEOUT."
        ),
    )
    log_level: LogLevel = Field(default="info", description="Lowest level of log lines shown.")
    access_log: bool = Field(default=True, description="One log line per request.")
    forwarded_allow_ips: str | None = Field(
        default=None,
        description=(
            "Proxies (comma-separated IPs, or *) trusted to set X-Forwarded-For/-Proto. "
            "Unset: those headers are ignored."
        ),
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS, scheme included.",
    )

    lenient_content_type: bool = Field(
        default=True,
        description="Read bodies sent form-encoded (as `curl --data` does) or unlabelled as JSON.",
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
    max_body_size: int = Field(
        default=64 * 1024, ge=1, description="Largest request body accepted, in bytes (else 413)."
    )
    max_header_size: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Largest request line and headers together, in bytes (else 431).",
    )
    request_timeout: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Seconds a client has to send a whole request (line, headers, body) from its first "
            "byte (else 408, and the connection is closed). The answer's time is not counted."
        ),
    )
    limit_concurrency: int = Field(
        default=500,
        ge=1,
        description=(
            "Connections (or requests) a server process serves at once; past it, new requests "
            "get 503. Keep it under `ulimit -n`."
        ),
    )
    http_parser: Literal["httptools", "h11"] = Field(
        default="httptools",
        description="uvicorn's HTTP parser: httptools (fast, C), or h11 (pure Python).",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="When set, writes need `Authorization: Bearer <API_TOKEN>`.",
    )
    api_token_reads: bool = Field(
        default=False, description="With API_TOKEN set, reads need the token too."
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply pending Alembic migrations at start."
    )

    embedded_db_dir: Path = Field(
        default=Path(".data/postgres"),
        description="Data directory of the embedded PostgreSQL (used when DATABASE_URL is unset).",
    )
    embedded_db_port: int = Field(
        default=5433, ge=1, le=65535, description="Port of the embedded PostgreSQL, on 127.0.0.1."
    )

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        ConnectionTarget.from_url(value.get_secret_value())  # a ValueError says what is wrong
        return value

    @field_validator("api_token")
    @classmethod
    def _token_or_none(cls, value: SecretStr | None) -> SecretStr | None:
        # `API_TOKEN=` in .env means "no token", not "the empty token".
        return value if value is not None and value.get_secret_value() else None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _full_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            parts = urlsplit(origin)
            # The demo allowed "localhost:5000": browsers send "http://localhost:5000", so it
            # never matched. An origin is scheme://host[:port] and nothing else.
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
                raise ValueError(f"{origin!r} is not an origin like http://localhost:3000")
        return [origin.rstrip("/") for origin in origins]

    @model_validator(mode="after")
    def _bounds(self) -> Settings:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        if self.shutdown_drain and self.shutdown_drain >= self.shutdown_timeout:
            raise ValueError("SHUTDOWN_DRAIN must be below SHUTDOWN_TIMEOUT")
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

    def database_options(self) -> DatabaseOptions:
        """The DB_* settings, as the data layer takes them (DB_POOL_TIMEOUT: `pool_timeout`)."""
        return DatabaseOptions(**{n.removeprefix("db_"): v for n, v in self if n.startswith("db_")})


def as_environment(settings: Settings) -> dict[str, str]:
    """The settings as environment variables, from which `Settings()` reads them back as they are.

    How main.py hands uvicorn's processes what it resolved (the embedded server's DATABASE_URL):
    the app is built by `create_app()`, which reads Settings(), in worker and reload processes.
    """
    return {
        name.upper(): value.get_secret_value() if isinstance(value, SecretStr)
        else str(value).lower() if isinstance(value, bool)
        else ",".join(value) if isinstance(value, list)
        else str(value)
        for name, value in settings.model_dump(exclude_none=True).items()
    }  # fmt: skip


def load_settings() -> Settings:
    """Settings from the environment, or exit 2 with one line per wrong value, naming its variable:
    for entry points (src/main.py, scripts/), whose users read this, not a traceback."""
    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            variable = "_".join(str(part) for part in problem["loc"]).upper() or "settings"
            print(f"error: {variable}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
