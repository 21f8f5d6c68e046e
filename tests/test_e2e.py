"""The real server process, driven over HTTP with requests, like the demo's integration tests."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from tests.support import ServerProcess, assert_demo_curl_session, free_port

pytestmark = pytest.mark.e2e


def test_demo_curl_session_passes_against_the_real_server(server: ServerProcess) -> None:
    assert_demo_curl_session(server.base)


def test_server_logs_requests_and_never_the_password(database_url: str, tmp_path: Path) -> None:
    # A password the log must not show: the real one on the embedded server, a made-up one on a
    # trust-auth server (which never asks for it).
    parts = urlsplit(database_url)
    password = parts.password or "never-log-this-pw"
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port}"
    url = urlunsplit(parts._replace(netloc=netloc))
    server = ServerProcess({"DATABASE_URL": url, "PORT": str(free_port())}, tmp_path / "log")
    try:
        server.wait_ready()
        requests.get(f"{server.base}/health", timeout=5)
    finally:
        assert server.stop() == 0

    log = server.log.read_text()
    assert f"Using database postgresql://{parts.username}:****@{parts.hostname}" in log
    assert '"GET /health HTTP/1.1" 200' in log
    assert password not in log


def test_embedded_database_keeps_notes_across_a_restart(embedded_dir: Path, tmp_dir: Path) -> None:
    env = {
        "EMBEDDED_DB_DIR": str(embedded_dir),
        "EMBEDDED_DB_PORT": str(free_port()),
        "PORT": str(free_port()),
    }
    first = ServerProcess(env, tmp_dir / "first.log")
    try:
        first.wait_ready()
        note = requests.post(f"{first.base}/notes", json={"text": "survive"}, timeout=5).json()
    finally:
        assert first.stop() == 0
    # Stopped cleanly: the embedded server went down with the service.
    assert not (embedded_dir / "pgdata" / "postmaster.pid").exists()
    password = (embedded_dir / "password").read_text().strip()
    assert password not in (tmp_dir / "first.log").read_text()

    second = ServerProcess(env, tmp_dir / "second.log")
    try:
        second.wait_ready()
        assert requests.get(f"{second.base}/notes/{note['id']}", timeout=5).json() == note
    finally:
        assert second.stop() == 0


def test_embedded_database_on_a_taken_port_fails_start_with_one_line(
    embedded_dir: Path, tmp_dir: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"EMBEDDED_DB_DIR": str(embedded_dir), "EMBEDDED_DB_PORT": str(port)}
        server = ServerProcess({**env, "PORT": str(free_port())}, tmp_dir / "server.log")
        code = server.process.wait(60)
        server.stop()

    assert code == 1
    assert f"error: 127.0.0.1:{port} is taken" in server.log.read_text()
    assert "set EMBEDDED_DB_PORT to a free port" in server.log.read_text()
