"""Settings, read from the environment and an optional `.env` file, validated once at start.

Every knob the service has is a field of `Settings`: the data layer's (DATABASE_URL, DB_*) are
declared beside it in database/settings.py, the serving machinery's (HOST, PORT, the limits...)
in serving/settings.py, and the app's own here. `.env.example` lists them all with their defaults,
docs/configuration.md says what each does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from notes_api.database import DatabaseSettings
from notes_api.serving.settings import ServingSettings


class Settings(ServingSettings, DatabaseSettings):
    """Every knob the service has (see the module)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        # `PORT=` (or a Makefile passing an unset variable on) means "the default".
        env_ignore_empty=True,
        extra="ignore",
    )

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed by CORS, scheme included.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="When set, writes need `Authorization: Bearer <API_TOKEN>`.",
    )
    api_token_reads: bool = Field(
        default=False, description="With API_TOKEN set, reads need the token too."
    )
    idempotency_ttl: int = Field(
        default=86_400,
        ge=1,
        description="Seconds an Idempotency-Key is kept, and its answer replayed to repeats.",
    )
    require_if_match: bool = Field(
        default=False,
        description="Refuse (428) a PUT, PATCH or DELETE without `If-Match: <the note's ETag>`.",
    )
    # The embedded PostgreSQL's (notes_api/development/), used when DATABASE_URL is unset.
    embedded_db_dir: Path = Field(
        default=Path(".data/postgres"),
        description="Data directory of the embedded PostgreSQL (used when DATABASE_URL is unset).",
    )
    embedded_db_port: int = Field(
        default=5433, ge=1, le=65535, description="Port of the embedded PostgreSQL, on 127.0.0.1."
    )

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
