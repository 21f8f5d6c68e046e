"""`make seed`: scripts/seed.py loads generated notes with COPY, on the service's settings."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import seed, sql


def test_seed_adds_notes_in_batches_and_reports_the_rate(
    api: TestClient, database_url: str
) -> None:
    api.post("/notes", json={"text": "kept"})

    result = seed(database_url, "2500", "--batch", "1000")

    assert result.returncode == 0, result.stderr
    assert "Seeded 2,500 notes in" in result.stdout
    assert "notes/s" in result.stdout
    assert "2,500/2,500 notes" in result.stderr  # the progress bar's last line
    rows = sql(database_url, "SELECT count(*) AS n, max(id) AS last FROM notes")
    assert (rows[0]["n"], rows[0]["last"]) == (2501, 2501)
    page = api.get("/notes", params={"after": 1, "take": 2}).json()
    assert [(n["id"], n["text"]) for n in page] == [(2, "Seeded note 1"), (3, "Seeded note 2")]
    assert api.get("/notes/2501").json()["completed"] is False


def test_seed_truncate_replaces_every_note(api: TestClient, database_url: str) -> None:
    api.post("/notes", json={"text": "gone"})

    result = seed(database_url, "10", "--truncate")

    assert result.returncode == 0, result.stderr
    assert [n["text"] for n in api.get("/notes", params={"take": 2}).json()] == [
        "Seeded note 1",
        "Seeded note 2",
    ]
    assert len(api.get("/notes/all").json()) == 10


def test_seed_refuses_a_negative_count(database_url: str) -> None:
    result = seed(database_url, "-5")

    assert result.returncode == 2
    assert "count must be 0 or more" in result.stderr
