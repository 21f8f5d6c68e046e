"""Reads from a replica (DATABASE_READ_URL, database/replicas.py), on a real primary and streaming
standby: reads go to the standby and writes to the primary; without the standby, reads fall back to
the primary, logged, and come back once it answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from notes_api.app import create_app
from notes_api.config import Settings
from notes_api.database.replicas import PROBE_INTERVAL
from notes_api.development.database import ensure_database
from notes_api.development.embedded import EmbeddedPostgres
from tests.support import metric_value, standby_of, throwaway_cluster, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[EmbeddedPostgres, EmbeddedPostgres]]:
    with throwaway_cluster() as primary:
        asyncio.run(ensure_database(primary.url(), "notes"))
        with standby_of(primary) as standby:
            yield primary, standby


@pytest.fixture
def api(pair: tuple[EmbeddedPostgres, EmbeddedPostgres]) -> Iterator[TestClient]:
    primary, standby = pair
    settings = Settings(
        _env_file=None,
        database_url=primary.url("notes"),
        database_read_url=standby.url("notes"),
        db_pool_min_size=1,
        db_pool_timeout=2,
        db_connect_timeout=2,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def replicated(api: TestClient, path: str) -> None:
    """Wait until a read of `path` (from the replica) finds what was written."""
    wait_until(
        f"GET {path} to find on the replica what was written",
        lambda: api.get(path).status_code,
        lambda status: status == 200,
        seconds=10,
    )


def test_reads_are_served_by_the_replica_and_writes_by_the_primary(
    api: TestClient, pair: tuple[EmbeddedPostgres, EmbeddedPostgres]
) -> None:
    primary, standby = pair
    note = api.post("/notes", json={"text": "written on the primary"}).json()
    replicated(api, f"/notes/{note['id']}")
    ready = api.get("/ready").json()

    primary.stop("fast")
    try:
        # Only the replica answers now: what reads get, it served.
        one = api.get(f"/notes/{note['id']}")
        page = api.get("/notes")
        export = api.get("/notes/all")
        write = api.post("/notes", json={"text": "no primary"})
        from_primary = api.get(f"/notes/{note['id']}", headers={"Read-From": "primary"})
        not_ready = api.get("/ready")
    finally:
        primary.start()

    assert ready == {
        "status": "ready",
        "database": f"127.0.0.1:{primary.port}",
        "reads": f"127.0.0.1:{standby.port}",
    }
    assert (one.status_code, one.json()) == (200, note)
    assert note in page.json()
    assert note in export.json()
    assert (write.status_code, write.headers["Retry-After"]) == (503, "5")
    assert from_primary.status_code == 503  # the client asked for the primary, which is down
    assert (not_ready.status_code, not_ready.json()) == (503, {"status": "unavailable"})


def test_reads_fall_back_to_the_primary_while_no_replica_answers(
    api: TestClient,
    pair: tuple[EmbeddedPostgres, EmbeddedPostgres],
    caplog: pytest.LogCaptureFixture,
) -> None:
    primary, standby = pair
    caplog.set_level(logging.INFO, logger="notes_api.database.replicas")
    note = api.post("/notes", json={"text": "read me"}).json()
    replicated(api, f"/notes/{note['id']}")
    api.get("/metrics")  # counts the reads so far
    fallbacks = metric_value("db_reads_total", served_by="primary_fallback")

    standby.stop("fast")
    try:
        answers = [api.get(f"/notes/{note['id']}") for _ in range(5)]
        pages = [api.get("/notes") for _ in range(5)]
        export = api.get("/notes/all")
        ready = api.get("/ready").json()
        api.get("/metrics")
        fallbacks = metric_value("db_reads_total", served_by="primary_fallback") - fallbacks
    finally:
        standby.start()
    wait_until(
        "reads to go back to the replica",
        lambda: api.get("/ready").json()["reads"],
        lambda reads: reads == f"127.0.0.1:{standby.port}",
        seconds=PROBE_INTERVAL + 10,
    )
    api.get("/metrics")
    by_replicas = metric_value("db_reads_total", served_by="replica")
    api.get(f"/notes/{note['id']}")
    api.get("/metrics")
    by_replicas = metric_value("db_reads_total", served_by="replica") - by_replicas

    assert [(a.status_code, a.json()) for a in answers] == [(200, note)] * 5
    assert [p.json() for p in pages if note not in p.json()] == []
    assert note in export.json()
    assert ready["reads"] == f"127.0.0.1:{primary.port}"
    # /metrics counts them: 5 notes, 5 pages, the export and /ready's question fell back.
    assert (fallbacks, by_replicas) == (12, 1)
    messages = [r.getMessage() for r in caplog.records if r.name == "notes_api.database.replicas"]
    assert sum("No read replica answers" in m for m in messages) == 1  # said once, not per read
    assert any("A read replica answers again" in m for m in messages), messages


def test_read_from_takes_primary_or_replica_only(api: TestClient) -> None:
    answer = api.get("/notes", headers={"Read-From": "anywhere"})

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["header", "read-from"]
