"""Settings: defaults, validation, and how DATABASE_URL's TLS options reach asyncpg."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr, ValidationError

from notes_api.config import Settings, as_environment
from notes_api.database.url import ConnectionTarget
from tests.support import ROOT, connects_encrypted, free_port, sql, with_database


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


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", None),
        ("?sslmode=disable", False),
        ("?sslmode=require", "require"),
        ("?sslmode=prefer", "prefer"),
        ("?sslmode=verify-full", "verify-full"),
    ],
)
def test_sslmode_becomes_asyncpgs_ssl_option(query: str, expected: object) -> None:
    options = ConnectionTarget.from_url(f"postgresql://u:p@h:5432/db{query}").connect_options()

    assert options.get("ssl") == expected
    assert (options["host"], options["port"], options["database"]) == ("h", 5432, "db")


def test_sslrootcert_builds_a_verifying_context() -> None:
    ca = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    full = ConnectionTarget.from_url(f"postgresql://u@h/db?sslmode=verify-full&sslrootcert={ca}")
    ca_only = ConnectionTarget.from_url(f"postgresql://u@h/db?sslmode=verify-ca&sslrootcert={ca}")

    assert isinstance(full.ssl, ssl.SSLContext)
    assert full.ssl.check_hostname
    assert isinstance(ca_only.ssl, ssl.SSLContext)
    assert not ca_only.ssl.check_hostname
    assert full.ssl.verify_mode == ssl.CERT_REQUIRED


def test_sslmode_takes_effect_on_a_real_connection(database_url: str) -> None:
    # databases 0.9 alone drops sslmode: `require` would quietly connect in clear text.
    server_has_tls = sql(database_url, "SHOW ssl")[0][0] == "on"

    assert connects_encrypted(f"{database_url}?sslmode=disable") is False
    if server_has_tls:
        assert connects_encrypted(f"{database_url}?sslmode=require") is True
    else:
        with pytest.raises((ConnectionError, asyncpg.PostgresError)):
            connects_encrypted(f"{database_url}?sslmode=require")


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
