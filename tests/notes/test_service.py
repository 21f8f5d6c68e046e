"""The service functions (notes/service.py), called on a database of their own, without the app:
what each one returns and stores, and the note it does not find. (tests/notes/test_routes.py
drives the same through HTTP.)"""

from __future__ import annotations

from typing import Any

import pytest

from notes_api.database import Database
from notes_api.notes import service
from notes_api.notes.service import NoteNotFoundError
from tests.support import on_database, sql


def texts(rows: list[Any]) -> list[str]:
    return [row["text"] for row in rows]


def test_create_note_returns_the_row_the_database_stored(notes_url: str) -> None:
    async def scenario(database: Database) -> Any:
        return await service.create_note(database, text="Buy milk", completed=True)

    note = dict(on_database(notes_url, scenario))

    [stored] = sql(notes_url, "SELECT * FROM notes")
    assert note == dict(stored)
    assert (note["id"], note["text"], note["completed"]) == (1, "Buy milk", True)
    assert note["created_at"] == note["updated_at"]
    assert note["created_at"].tzinfo is not None


def test_get_note_finds_a_note_by_id(notes_url: str) -> None:
    async def scenario(database: Database) -> tuple[Any, Any]:
        note = await service.create_note(database, text="a", completed=False)
        return note, await service.get_note(database, note_id=note["id"])

    created, found = on_database(notes_url, scenario)
    assert dict(found) == dict(created)


@pytest.mark.parametrize("verb", ["get_note", "update_note", "replace_note", "delete_note"])
def test_a_note_that_is_not_there_is_not_found(notes_url: str, verb: str) -> None:
    given: dict[str, dict[str, Any]] = {
        "get_note": {},
        "update_note": {"changes": {"text": "x"}},
        "replace_note": {"text": "x", "completed": True},
        "delete_note": {},
    }
    arguments = given[verb]

    async def scenario(database: Database) -> None:
        await getattr(service, verb)(database, note_id=999, **arguments)

    with pytest.raises(NoteNotFoundError) as raised:
        on_database(notes_url, scenario)
    assert raised.value.note_id == 999
    assert sql(notes_url, "SELECT count(*) FROM notes") == [(0,)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"take": 2}, ["n1", "n2"]),
        ({"take": 2, "skip": 3}, ["n4", "n5"]),
        ({"take": 10, "after": 4}, ["n5", "n6"]),
        ({"take": 10, "completed": True}, ["n3", "n6"]),
        ({"take": 1, "after": 1, "completed": False}, ["n2"]),
        ({"take": 10, "after": 6}, []),
    ],
)
def test_list_notes_pages_in_id_order(
    notes_url: str, query: dict[str, Any], expected: list[str]
) -> None:
    async def scenario(database: Database) -> list[str]:
        for i in range(1, 7):
            await service.create_note(database, text=f"n{i}", completed=i % 3 == 0)
        return texts(await service.list_notes(database, **query))

    assert on_database(notes_url, scenario) == expected


def test_iterate_notes_reads_every_note_in_batches(notes_url: str) -> None:
    async def scenario(database: Database) -> list[list[str]]:
        for i in range(1, 6):
            await service.create_note(database, text=f"n{i}", completed=False)
        return [texts(list(batch)) async for batch in service.iterate_notes(database, batch=2)]

    assert on_database(notes_url, scenario) == [["n1", "n2"], ["n3", "n4"], ["n5"]]


def test_update_note_changes_only_the_columns_given(notes_url: str) -> None:
    async def scenario(database: Database) -> tuple[Any, Any, Any]:
        note = await service.create_note(database, text="draft", completed=False)
        done = await service.update_note(database, note_id=note["id"], changes={"completed": True})
        same = await service.update_note(database, note_id=note["id"], changes={})
        return note, done, same

    note, done, same = on_database(notes_url, scenario)
    assert (done["text"], done["completed"]) == ("draft", True)
    assert done["created_at"] == note["created_at"] == note["updated_at"]
    assert done["updated_at"] > note["updated_at"]
    assert dict(same) == dict(done)  # nothing to change: the note as it is


def test_update_note_refuses_a_column_it_may_not_write(notes_url: str) -> None:
    async def scenario(database: Database) -> None:
        await service.update_note(database, note_id=1, changes={"id": 2})

    with pytest.raises(ValueError, match=r"not writable: \['id'\]"):
        on_database(notes_url, scenario)


def test_replace_note_sets_text_and_completed(notes_url: str) -> None:
    async def scenario(database: Database) -> tuple[Any, Any]:
        note = await service.create_note(database, text="draft", completed=True)
        new = await service.replace_note(
            database, note_id=note["id"], text="final", completed=False
        )
        return note, new

    note, new = on_database(notes_url, scenario)
    assert (new["id"], new["text"], new["completed"]) == (note["id"], "final", False)


def test_delete_note_returns_the_note_as_it_was_once(notes_url: str) -> None:
    async def scenario(database: Database) -> tuple[Any, Any]:
        note = await service.create_note(database, text="gone", completed=False)
        deleted = await service.delete_note(database, note_id=note["id"])
        with pytest.raises(NoteNotFoundError):
            await service.delete_note(database, note_id=note["id"])
        return note, deleted

    note, deleted = on_database(notes_url, scenario)
    assert dict(deleted) == dict(note)
    assert sql(notes_url, "SELECT count(*) FROM notes") == [(0,)]
