"""Settings: defaults, validation at start (a wrong value fails with one line naming it), and what
the entry point hands to uvicorn's processes. DATABASE_URL's options: tests/database/test_url.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from notes_api.config import Settings, as_environment
from tests.support import ROOT, free_port, with_database


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_serve_locally_on_port_5000() -> None:
    defaults = settings()

    assert (defaults.host, defaults.port, defaults.reload) == ("127.0.0.1", 5000, False)
    assert defaults.database_url is None
    assert defaults.cors_origins == []


def test_cors_origins_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "http://localhost:3000, https://notes.example.com/")

    assert settings().cors_origins == ["http://localhost:3000", "https://notes.example.com"]


@pytest.mark.parametrize(
    "origin", ["localhost:5000", "http://", "ftp://x.example", "http://a.b/path"]
)
def test_cors_origin_must_be_a_full_origin(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        settings(cors_origins=[origin])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "must start with postgresql://"),
        ("postgresql://u@h:5432", "must name a database"),
        ("postgresql://u@h/db?sslmode=sometimes", "sslmode='sometimes' is not one of"),
        ("postgresql://u@h/db?application_name=x", "unsupported option 'application_name'"),
        ("postgresql://u@h/db?sslmode=require&sslrootcert=/ca.pem", "sslrootcert needs"),
    ],
)
def test_database_url_is_checked_at_start(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(database_url=url)


def test_pool_min_cannot_exceed_max() -> None:
    with pytest.raises(ValidationError, match="DB_POOL_MIN_SIZE"):
        settings(db_pool_min_size=5, db_pool_max_size=2)


def test_wrong_value_fails_start_with_one_line_naming_it() -> None:
    result = subprocess.run(
        [sys.executable, "src/main.py"],
        cwd=ROOT,
        env={"PORT": "not-a-port", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: PORT: Input should be a valid integer, unable to parse string as an integer"
    ]


def test_unreachable_database_fails_start_with_one_line(server_url: str) -> None:
    nowhere = f"postgresql://postgres:hidden-pw@127.0.0.1:{free_port()}/notes"
    missing = with_database(server_url, "no_such_database")

    for url, reason in [(nowhere, "Connect call failed"), (missing, "does not exist")]:
        result = subprocess.run(
            [sys.executable, "src/main.py"],
            cwd=ROOT,
            env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode == 1
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: DATABASE_URL: cannot connect to postgresql://")
        assert reason in line
        assert "hidden-pw" not in line


def test_settings_reach_uvicorns_processes_as_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    # main.py hands what it resolved to worker and reload processes through the environment.
    resolved = settings(
        database_url=SecretStr("postgresql://u:p%40ss@db:5433/notes?sslmode=require"),
        port=5050,
        workers=3,
        access_log=False,
        cors_origins=["http://localhost:3000", "https://notes.example.com"],
        db_pool_timeout=2.5,
        api_token=SecretStr("token"),
        embedded_db_dir=Path("/srv/notes/postgres"),
    )
    for variable in os.environ:
        if variable.upper() in Settings.model_fields or variable.lower() in Settings.model_fields:
            monkeypatch.delenv(variable)
    for variable, value in as_environment(resolved).items():
        monkeypatch.setenv(variable, value)

    assert Settings(_env_file=None) == resolved
