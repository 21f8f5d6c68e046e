"""What the service says about itself, and whether it can serve: /, /health, /ready; and the
answers it gives while its database cannot take a request."""

from __future__ import annotations

import asyncio
import uuid

from fastapi.testclient import TestClient

from notes_api import __version__
from notes_api.app import create_app
from notes_api.config import Settings
from notes_api.database.migrations import run
from notes_api.database.url import ConnectionTarget
from tests.support import free_port, sql, with_database


def test_root_names_the_service_and_links_onwards(api: TestClient) -> None:
    body = api.get("/").json()

    assert body["name"] == "notes-api"
    assert body["version"] == __version__
    assert body["links"]["docs"] == "/docs"
    assert body["links"]["notes"] == "/notes"


def test_health_is_ok(api: TestClient) -> None:
    response = api.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_the_database_answers(api: TestClient) -> None:
    response = api.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_ready_is_503_without_a_database() -> None:
    # Nothing listens on this port; the pool opens lazily (min size 0), so the app starts.
    url = f"postgresql://postgres:secret-pw@127.0.0.1:{free_port()}/nowhere"
    settings = Settings(
        _env_file=None, database_url=url, db_pool_min_size=0, migrate_on_start=False
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready")
        write = client.post("/notes", json={"text": "lost"})

    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable"}
    assert ready.headers["Retry-After"] == "5"
    assert write.status_code == 503
    assert write.headers["Retry-After"] == "5"
    assert "secret-pw" not in ready.text + write.text


def test_write_to_a_read_only_database_is_503(server_url: str) -> None:
    # DATABASE_URL on a replica: reads work, writes are refused without a 500.
    name = f"notes_read_only_{uuid.uuid4().hex[:12]}"
    sql(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        asyncio.run(run(ConnectionTarget.from_url(url)))
        sql(server_url, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        settings = Settings(_env_file=None, database_url=url, migrate_on_start=False)
        with TestClient(create_app(settings)) as client:
            write = client.post("/notes", json={"text": "refused"})
            read = client.get("/notes")
    finally:
        sql(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')

    assert write.status_code == 503
    assert write.json() == {"detail": "The database is read-only; writes go to the primary"}
    assert write.headers["Retry-After"] == "5"
    assert (read.status_code, read.json()) == (200, [])
