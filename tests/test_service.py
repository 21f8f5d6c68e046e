"""The service functions (service.py), called directly on the app's database: what each one
returns and stores. (tests/test_notes.py drives the same through HTTP.)"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from notes_api import service
from notes_api.database import Database
from tests.support import sql


def run(api: TestClient, scenario: Any) -> Any:
    """Run `scenario(database)` with the lifespan's database, on the loop it lives on."""
    assert api.portal is not None
    return api.portal.call(scenario, api.app_state["database"])


def texts(rows: list[Any]) -> list[str]:
    return [row["text"] for row in rows]


def test_create_note_returns_the_row_the_database_stored(
    api: TestClient, database_url: str
) -> None:
    async def scenario(database: Database) -> Any:
        return await service.create_note(database, text="Buy milk", completed=True)

    note = dict(run(api, scenario))

    [stored] = sql(database_url, "SELECT * FROM notes")
    assert note == dict(stored)
    assert (note["id"], note["text"], note["completed"]) == (1, "Buy milk", True)
    assert note["created_at"] == note["updated_at"]
    assert note["created_at"].tzinfo is not None


def test_get_note_finds_a_note_by_id_or_none(api: TestClient) -> None:
    async def scenario(database: Database) -> tuple[Any, Any]:
        note = await service.create_note(database, text="a", completed=False)
        found = await service.get_note(database, note_id=note["id"])
        return dict(note) == dict(found or {}), await service.get_note(database, note_id=999)

    assert run(api, scenario) == (True, None)


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
    api: TestClient, query: dict[str, Any], expected: list[str]
) -> None:
    async def scenario(database: Database) -> list[str]:
        for i in range(1, 7):
            await service.create_note(database, text=f"n{i}", completed=i % 3 == 0)
        return texts(await service.list_notes(database, **query))

    assert run(api, scenario) == expected


def test_iterate_notes_reads_every_note_in_batches(api: TestClient) -> None:
    async def scenario(database: Database) -> list[list[str]]:
        for i in range(1, 6):
            await service.create_note(database, text=f"n{i}", completed=False)
        return [texts(list(batch)) async for batch in service.iterate_notes(database, batch=2)]

    assert run(api, scenario) == [["n1", "n2"], ["n3", "n4"], ["n5"]]


def test_update_note_changes_only_the_columns_given(api: TestClient) -> None:
    async def scenario(database: Database) -> dict[str, Any]:
        note = await service.create_note(database, text="draft", completed=False)
        done = await service.update_note(database, note_id=note["id"], changes={"completed": True})
        same = await service.update_note(database, note_id=note["id"], changes={})
        missing = await service.update_note(database, note_id=999, changes={"text": "x"})
        assert done is not None
        assert same is not None
        return {
            "done": (done["text"], done["completed"]),
            "stamped": done["updated_at"] > note["updated_at"] == done["created_at"],
            "nothing to change": dict(same) == dict(done),
            "missing": missing,
        }

    assert run(api, scenario) == {
        "done": ("draft", True),
        "stamped": True,
        "nothing to change": True,
        "missing": None,
    }


def test_update_note_refuses_a_column_it_may_not_write(api: TestClient) -> None:
    async def scenario(database: Database) -> None:
        await service.update_note(database, note_id=1, changes={"id": 2})

    with pytest.raises(ValueError, match=r"not writable: \['id'\]"):
        run(api, scenario)


def test_replace_note_sets_text_and_completed(api: TestClient) -> None:
    async def scenario(database: Database) -> tuple[Any, ...]:
        note = await service.create_note(database, text="draft", completed=True)
        new = await service.replace_note(
            database, note_id=note["id"], text="final", completed=False
        )
        assert new is not None
        return new["text"], new["completed"], new["id"] == note["id"]

    assert run(api, scenario) == ("final", False, True)


def test_delete_note_returns_the_note_as_it_was_once(api: TestClient, database_url: str) -> None:
    async def scenario(database: Database) -> tuple[Any, Any]:
        note = await service.create_note(database, text="gone", completed=False)
        deleted = await service.delete_note(database, note_id=note["id"])
        again = await service.delete_note(database, note_id=note["id"])
        return dict(deleted or {}) == dict(note), again

    assert run(api, scenario) == (True, None)
    assert sql(database_url, "SELECT count(*) FROM notes") == [(0,)]


def test_ping_answers_while_the_database_does(api: TestClient) -> None:
    async def scenario(database: Database) -> None:
        await service.ping(database)

    run(api, scenario)
