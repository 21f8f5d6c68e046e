"""What `make adminer` tells the user to type, for each kind of database the service may use.

`scripts/adminer.py --print-only` prints the login and serves nothing, so these need neither PHP nor
a database. It runs in an empty directory, so a developer's `.env` does not leak in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

SCRIPT = ROOT / "scripts" / "adminer.py"


def adminer(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEST_", "DATABASE_URL", "EMBEDDED_", "ADMINER_"))
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_print_login_for_a_database_url_decodes_user_and_password(tmp_path: Path) -> None:
    url = "postgresql://app%40corp:p%2Fss%3Aword@db.example:6543/notes?sslmode=require"

    result = adminer(tmp_path, "--print-only", DATABASE_URL=url)

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Adminer on http://127.0.0.1:8080. Log in with:\n"
        "  System    PostgreSQL\n"
        "  Server    db.example:6543\n"
        "  Username  app@corp\n"
        "  Password  p/ss:word\n"
        "  Database  notes\n"
        "or open (everything but the password filled in):\n"
        "  http://127.0.0.1:8080/?pgsql=db.example:6543&username=app%40corp&db=notes"
        "&ns=public&select=notes\n"
    )


def test_print_login_without_a_password_explains_what_to_type(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/notes"

    result = adminer(tmp_path, "--print-only", DATABASE_URL=url)

    assert "  Password  (see the note below)\n" in result.stdout
    assert "Adminer refuses to log in without one" in result.stdout
    assert "(trust auth), type any password: it is ignored" in result.stdout


def test_print_login_for_the_embedded_server_reads_its_password_file(tmp_path: Path) -> None:
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "password").write_text("embedded-secret\n")

    result = adminer(
        tmp_path, "--print-only", EMBEDDED_DB_DIR=str(tmp_path / "pg"), EMBEDDED_DB_PORT="5499"
    )

    assert "  Server    127.0.0.1:5499\n" in result.stdout
    assert "  Username  postgres\n" in result.stdout
    assert "  Password  embedded-secret\n" in result.stdout
    assert "  Database  notes\n" in result.stdout
    # No server runs in that directory: the user learns that the service must run first.
    assert "The embedded PostgreSQL is not running" in result.stdout


def test_print_login_before_the_embedded_server_exists_says_to_start(tmp_path: Path) -> None:
    result = adminer(tmp_path, "--print-only", EMBEDDED_DB_DIR=str(tmp_path / "none"))

    assert "does not exist yet" in result.stdout
    assert "`make start` first" in result.stdout


def test_adminer_port_comes_from_the_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ADMINER_PORT=8099\n")

    result = adminer(tmp_path, "--print-only", DATABASE_URL="postgresql://u:p@h:5432/d")

    assert result.stdout.startswith("Adminer on http://127.0.0.1:8099.")


@pytest.mark.parametrize(
    ("php", "missing"),
    [
        (None, "php (the command-line PHP), Adminer"),
        ("exit 1", "PHP's pgsql extension, Adminer"),  # php -r 'exit(extension_loaded(...))'
        ("exit 0", "Adminer"),
    ],
    ids=["nothing", "php-without-pgsql", "php"],
)
def test_adminer_without_its_packages_says_what_is_missing_and_how_to_install_it(
    tmp_path: Path, php: str | None, missing: str
) -> None:
    # A PATH of the test's own, with no php or a stand-in: the answer must not depend on what this
    # machine has installed.
    path = tmp_path / "bin"
    path.mkdir()
    if php is not None:
        (path / "php").write_text(f"#!/bin/sh\n{php}\n")
        (path / "php").chmod(0o755)
    adminer_php = tmp_path / "adminer.php"

    result = adminer(tmp_path, ADMINER_PHP=str(adminer_php), PATH=str(path))

    assert result.returncode == 1
    assert result.stderr.startswith(
        f"error: `make adminer` needs {missing} ({adminer_php}). Install:\n"
    )
    assert "sudo apt-get install adminer php-cli php-pgsql" in result.stderr
    assert result.stdout == ""
