"""`make seed`: scripts/seed.py loads generated notes with COPY, on the service's settings; the
service's functions read them as any other notes (on the database, no app)."""

from __future__ import annotations

from notes_api.database import Database, Row
from notes_api.notes import service
from tests.support import on_database, seed, sql


def test_seed_adds_notes_in_batches_and_reports_the_rate(notes_url: str) -> None:
    sql(notes_url, "INSERT INTO notes (text) VALUES ('kept')")

    result = seed(notes_url, "2500", "--batch", "1000")

    assert result.returncode == 0, result.stderr
    assert "Seeded 2,500 notes in" in result.stdout
    assert "notes/s" in result.stdout
    assert "2,500/2,500 notes" in result.stderr  # the progress bar's last line
    rows = sql(notes_url, "SELECT count(*) AS n, max(id) AS last FROM notes")
    assert (rows[0]["n"], rows[0]["last"]) == (2501, 2501)

    async def read(database: Database) -> tuple[list[Row], Row]:
        page = await service.list_notes(database, after=1, take=2)
        return page, await service.get_note(database, note_id=2501)

    page, last = on_database(notes_url, read)
    assert [(n["id"], n["text"].split(":")[0]) for n in page] == [
        (2, "Seeded note 1"),
        (3, "Seeded note 2"),
    ]
    # Three words after the number: made up, few of them common and most rare, so that a search
    # of seeded notes is one of real notes.
    assert [len(n["text"].split(": ")[1].split()) for n in page] == [3, 3]
    assert last["completed"] is False


def test_seed_truncate_replaces_every_note(notes_url: str) -> None:
    sql(notes_url, "INSERT INTO notes (text) VALUES ('gone')")

    result = seed(notes_url, "10", "--truncate")

    assert result.returncode == 0, result.stderr
    texts = [row["text"] for row in sql(notes_url, "SELECT text FROM notes ORDER BY id")]
    assert [text.split(":")[0] for text in texts] == [f"Seeded note {i}" for i in range(1, 11)]


def test_seed_refuses_a_negative_count(database_url: str) -> None:
    result = seed(database_url, "-5")

    assert result.returncode == 2
    assert "count must be 0 or more" in result.stderr
