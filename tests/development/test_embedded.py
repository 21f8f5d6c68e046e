"""The embedded PostgreSQL and the clusters made before it: the data directory of an earlier
notes-api (PostgreSQL 16, from the `pgserver` wheel) keeps its notes and runs as it is; `make
db-upgrade` moves it to the newest PostgreSQL and keeps the old one; nothing is initialised over it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from notes_api.development.binaries import newest, wheel_binaries
from notes_api.development.embedded import EmbeddedPostgres
from tests.support import ROOT, ServerProcess, free_port, sql, with_database

pytestmark = pytest.mark.e2e

OLD_VERSION = "16"  # pgserver 0.1.4's PostgreSQL, the embedded server until notes-api moved on


def cluster_made_before(root: Path) -> EmbeddedPostgres:
    """A cluster as the service made it with pgserver: PostgreSQL 16, the same initdb options, a
    table with a row in the service's database. Stopped."""
    cluster = EmbeddedPostgres(root=root, port=free_port(), bin_dir=wheel_binaries()[OLD_VERSION])
    cluster.start()
    try:
        sql(cluster.url(), "CREATE DATABASE notes")
        notes = with_database(cluster.url(), "notes")
        sql(notes, "CREATE TABLE kept (text text)")
        sql(notes, "INSERT INTO kept VALUES ('written on PostgreSQL 16')")
    finally:
        cluster.stop()
    return EmbeddedPostgres(root=root, port=free_port())


def make_db_upgrade(data_dir: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.skip("needs make: apt-get install make")
    # Not the variables of a `make test` this may run under (its command line, its jobserver).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "MAKE", "MFLAGS"))}
    env["EMBEDDED_DB_DIR"] = str(data_dir)
    return subprocess.run(
        # This Python's virtualenv, whichever the suite runs in (`make test VENV=...`).
        ["make", "--no-print-directory", "db-upgrade", f"VENV={sys.prefix}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def server_version(cluster: EmbeddedPostgres) -> str:
    return str(sql(cluster.url(), "SHOW server_version")[0][0]).split(".")[0]


def test_new_cluster_gets_the_newest_postgresql(embedded_dir: Path) -> None:
    cluster = EmbeddedPostgres(root=embedded_dir, port=free_port())
    cluster.start()
    try:
        assert server_version(cluster) == newest(wheel_binaries()) == "18"
    finally:
        cluster.stop()


def test_service_runs_a_cluster_made_before_on_its_version_with_its_data(
    embedded_dir: Path, tmp_dir: Path
) -> None:
    cluster = cluster_made_before(embedded_dir)
    env = {
        "EMBEDDED_DB_DIR": str(embedded_dir),
        "EMBEDDED_DB_PORT": str(cluster.port),
        "PORT": str(free_port()),
    }
    server = ServerProcess(env, tmp_dir / "server.log")
    try:
        server.wait_ready()
        note = requests.post(f"{server.base}/notes", json={"text": "on 16"}, timeout=5).json()
        assert note["text"] == "on 16"
        assert server_version(cluster) == OLD_VERSION
        notes = with_database(cluster.url(), "notes")
        assert [row["text"] for row in sql(notes, "SELECT text FROM kept")] == [
            "written on PostgreSQL 16"
        ]
    finally:
        assert server.stop() == 0
    assert (
        "INFO:notes_api.development.embedded:The embedded cluster is PostgreSQL 16 (made by an "
        "earlier notes-api): `make db-upgrade` moves it to PostgreSQL 18"
    ) in server.log.read_text()
    assert (embedded_dir / "pgdata" / "PG_VERSION").read_text() == "16\n"


def test_db_upgrade_moves_a_cluster_made_before_to_the_newest_and_keeps_the_old(
    embedded_dir: Path,
) -> None:
    cluster = cluster_made_before(embedded_dir)
    password = cluster.password

    result = make_db_upgrade(embedded_dir)

    assert result.returncode == 0, result.stdout + result.stderr
    kept = embedded_dir / "pgdata-16.old"
    assert f"now runs PostgreSQL 18. The old cluster is in {kept}" in result.stdout
    assert (kept / "PG_VERSION").read_text() == "16\n"
    assert (embedded_dir / "pgdata" / "PG_VERSION").read_text() == "18\n"
    cluster.start()
    try:
        assert server_version(cluster) == "18"
        assert cluster.password == password
        notes = with_database(cluster.url(), "notes")
        assert [row["text"] for row in sql(notes, "SELECT text FROM kept")] == [
            "written on PostgreSQL 16"
        ]
    finally:
        cluster.stop()

    again = make_db_upgrade(embedded_dir)
    assert again.returncode == 0
    assert "already runs PostgreSQL 18: nothing to do" in again.stdout


def test_db_upgrade_refuses_while_the_server_runs(embedded_dir: Path) -> None:
    cluster = cluster_made_before(embedded_dir)
    cluster.start()
    try:
        result = make_db_upgrade(embedded_dir)
    finally:
        cluster.stop()

    assert result.returncode == 2  # make's own code when the script failed
    assert "is running (pid" in result.stderr
    assert "stop the service" in result.stderr
    assert (embedded_dir / "pgdata" / "PG_VERSION").read_text() == "16\n"
    assert not (embedded_dir / "pgdata-16.old").exists()


def test_cluster_of_a_version_the_wheel_lacks_stops_the_service_with_one_line(
    embedded_dir: Path, tmp_dir: Path
) -> None:
    # A data directory of PostgreSQL 13: never initialised over, never started.
    pgdata = embedded_dir / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("13\n")
    (pgdata / "base").mkdir()
    env = {"EMBEDDED_DB_DIR": str(embedded_dir), "EMBEDDED_DB_PORT": str(free_port())}
    server = ServerProcess({**env, "PORT": str(free_port())}, tmp_dir / "server.log")
    code = server.process.wait(60)
    server.stop()

    assert code == 1
    errors = [line for line in server.log.read_text().splitlines() if "error" in line.lower()]
    assert errors == [
        f"error: {pgdata} was made by PostgreSQL 13, which the embedded server cannot run (it "
        "has 16 and 18): point DATABASE_URL at a PostgreSQL 13 server, or move the directory "
        "away to start an empty one"
    ]
    assert sorted(path.name for path in pgdata.iterdir()) == ["PG_VERSION", "base"]
