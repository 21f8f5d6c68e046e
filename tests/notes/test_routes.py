"""The /notes API, through HTTP, against the real database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

Note = dict[str, Any]


def create(api: TestClient, text: str = "Test", **fields: Any) -> Note:
    response = api.post("/notes", json={"text": text, **fields})
    assert response.status_code == 200, response.text
    note: Note = response.json()
    return note


def count(api: TestClient) -> int:
    return len(api.get("/notes/all").json())


# --- create -----------------------------------------------------------------------------------


def test_create_note_returns_the_stored_note(api: TestClient) -> None:
    response = api.post("/notes", json={"text": "Buy milk", "completed": True})

    assert response.status_code == 200
    note = response.json()
    assert note["id"] == 1
    assert note["text"] == "Buy milk"
    assert note["completed"] is True
    created = datetime.fromisoformat(note["created_at"])
    assert created.tzinfo is not None
    assert note["updated_at"] == note["created_at"]
    assert api.get("/notes/1").json() == note


def test_create_note_completed_defaults_to_false(api: TestClient) -> None:
    assert create(api, "No flag")["completed"] is False


def test_create_note_accepts_the_demos_curl_body(api: TestClient) -> None:
    # curl --data '{"text":"Test","completed":"false"}': form-encoded label, "false" as a string.
    response = api.post(
        "/notes",
        content=b'{"text":"Test","completed":"false"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["text"] == "Test"
    assert response.json()["completed"] is False
    assert api.post("/notes", json={"text": "t", "completed": "true"}).json()["completed"] is True
    unlabelled = api.post("/notes", content=b'{"text":"no content-type"}')
    assert unlabelled.status_code == 200
    assert unlabelled.json()["text"] == "no content-type"


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100,
        "ünïcödé ✓ 日本語 🙂",
        "'; DROP TABLE notes; --",
        "%_\\ back\\slash and 'quotes\"",
        "مرحبا بالعالم",
        " leading and trailing spaces ",
    ],
)
def test_create_note_round_trips_text_verbatim(api: TestClient, text: str) -> None:
    note = create(api, text)

    assert note["text"] == text
    assert api.get(f"/notes/{note['id']}").json()["text"] == text


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"completed": False}, ["body", "text"]),
        ({"text": ""}, ["body", "text"]),
        ({"text": "x" * 101}, ["body", "text"]),
        ({"text": 42}, ["body", "text"]),
        ({"text": None}, ["body", "text"]),
        ({"text": "nul \u0000 inside"}, ["body", "text"]),
        ({"text": "ok", "completed": "yes"}, ["body", "completed"]),
        ({"text": "ok", "completed": 1}, ["body", "completed"]),
        ({"text": "ok", "id": 7}, ["body", "id"]),
        ([{"text": "ok"}], ["body"]),
    ],
)
def test_create_note_rejects_invalid_body(api: TestClient, body: Any, where: list[str]) -> None:
    response = api.post("/notes", json=body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == where
    assert count(api) == 0


@pytest.mark.parametrize(
    "raw",
    [
        b'{"text": "unclosed"',
        b"not json at all",
        b'{"text": "\\ud800 lone surrogate"}',
        b"",
    ],
)
def test_create_note_rejects_malformed_json(api: TestClient, raw: bytes) -> None:
    response = api.post("/notes", content=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert "detail" in response.json()
    assert count(api) == 0


# --- read -------------------------------------------------------------------------------------


def test_get_note_returns_it(api: TestClient) -> None:
    note = create(api, "Read me")

    assert api.get(f"/notes/{note['id']}").json() == note


def test_get_note_missing_is_404(api: TestClient) -> None:
    response = api.get("/notes/12345")

    assert response.status_code == 404
    assert response.json() == {"detail": "Note not found"}


@pytest.mark.parametrize(
    "note_id", ["0", "-1", str(2**63), "99999999999999999999999", "abc", "1.5"]
)
def test_get_note_id_outside_bigint_is_422(api: TestClient, note_id: str) -> None:
    response = api.get(f"/notes/{note_id}")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "note_id"]


def test_get_note_largest_bigint_id_is_404(api: TestClient) -> None:
    assert api.get(f"/notes/{2**63 - 1}").status_code == 404


def test_list_notes_pages_in_id_order(api: TestClient) -> None:
    for i in range(5):
        create(api, f"note {i}")

    first = api.get("/notes", params={"take": 2})
    third = api.get("/notes", params={"skip": 4, "take": 2})

    assert [n["text"] for n in first.json()] == ["note 0", "note 1"]
    assert [n["text"] for n in third.json()] == ["note 4"]
    assert [n["id"] for n in api.get("/notes").json()] == [1, 2, 3, 4, 5]


def test_list_notes_defaults_to_twenty(api: TestClient) -> None:
    for i in range(25):
        create(api, f"note {i}")

    assert len(api.get("/notes").json()) == 20


def test_list_notes_follows_the_cursor(api: TestClient) -> None:
    for i in range(5):
        create(api, f"note {i}", completed=i % 2 == 0)

    first = api.get("/notes", params={"take": 2})
    assert first.headers["Link"] == '</notes?after=2&take=2>; rel="next"'
    second = api.get("/notes?after=2&take=2")
    last = api.get("/notes?after=4&take=2")

    assert [n["id"] for n in second.json()] == [3, 4]
    assert [n["id"] for n in last.json()] == [5]
    assert "Link" not in last.headers
    done = api.get("/notes", params={"completed": "true", "take": 2})
    assert [n["id"] for n in done.json()] == [1, 3]
    assert done.headers["Link"] == '</notes?after=3&take=2&completed=true>; rel="next"'


def test_list_notes_filters_on_completed(api: TestClient) -> None:
    create(api, "open")
    create(api, "done", completed=True)

    assert [n["text"] for n in api.get("/notes?completed=true").json()] == ["done"]
    assert [n["text"] for n in api.get("/notes?completed=false").json()] == ["open"]


@pytest.mark.parametrize(
    "query", ["take=0", "take=101", "skip=-1", "take=abc", "after=-1", "completed=maybe"]
)
def test_list_notes_rejects_bad_paging(api: TestClient, query: str) -> None:
    response = api.get(f"/notes?{query}")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_list_notes_caps_skip_and_points_to_the_cursor(api: TestClient) -> None:
    response = api.get("/notes?skip=10001")

    assert response.status_code == 422
    assert "after=<last id>" in response.json()["detail"][0]["msg"]
    assert api.get("/notes?skip=10000").json() == []


def test_all_notes_returns_every_note_in_order(api: TestClient) -> None:
    assert api.get("/notes/all").json() == []
    notes = [create(api, f"note {i}") for i in range(2503)]

    response = api.get("/notes/all")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == notes


# --- update -----------------------------------------------------------------------------------


def test_replace_note_sets_both_fields(api: TestClient) -> None:
    note = create(api, "Old", completed=True)

    response = api.put(f"/notes/{note['id']}", json={"text": "New"})

    assert response.status_code == 200
    replaced = response.json()
    assert (replaced["text"], replaced["completed"]) == ("New", False)
    assert replaced["created_at"] == note["created_at"]
    assert datetime.fromisoformat(replaced["updated_at"]) > datetime.fromisoformat(
        note["updated_at"]
    )
    assert api.get(f"/notes/{note['id']}").json() == replaced


def test_replace_note_missing_is_404(api: TestClient) -> None:
    response = api.put("/notes/77", json={"text": "x", "completed": True})

    assert response.status_code == 404
    assert response.json() == {"detail": "Note not found"}
    assert count(api) == 0


def test_replace_note_needs_text(api: TestClient) -> None:
    note = create(api, "Keep")

    assert api.put(f"/notes/{note['id']}", json={"completed": True}).status_code == 422
    assert api.get(f"/notes/{note['id']}").json() == note


def test_patch_note_changes_only_given_fields(api: TestClient) -> None:
    note = create(api, "Keep my text")

    patched = api.patch(f"/notes/{note['id']}", json={"completed": True}).json()
    assert (patched["text"], patched["completed"]) == ("Keep my text", True)
    renamed = api.patch(f"/notes/{note['id']}", json={"text": "Renamed"}).json()
    assert (renamed["text"], renamed["completed"]) == ("Renamed", True)


def test_patch_note_with_nothing_changes_nothing(api: TestClient) -> None:
    note = create(api, "Same")

    response = api.patch(f"/notes/{note['id']}", json={})

    assert response.status_code == 200
    assert response.json() == note


@pytest.mark.parametrize(
    "body", [{"text": None}, {"completed": None}, {"text": ""}, {"other": 1}, {"completed": "no"}]
)
def test_patch_note_rejects_invalid_fields(api: TestClient, body: dict[str, Any]) -> None:
    note = create(api, "Unchanged")

    response = api.patch(f"/notes/{note['id']}", json=body)

    assert response.status_code == 422
    assert api.get(f"/notes/{note['id']}").json() == note


def test_patch_note_missing_is_404(api: TestClient) -> None:
    assert api.patch("/notes/5", json={"completed": True}).status_code == 404
    assert api.patch("/notes/5", json={}).status_code == 404


# --- delete -----------------------------------------------------------------------------------


def test_delete_note_returns_it_and_removes_it(api: TestClient) -> None:
    note = create(api, "Bye")

    response = api.delete(f"/notes/{note['id']}")

    assert response.status_code == 200
    assert response.json() == note
    assert api.get(f"/notes/{note['id']}").status_code == 404


def test_delete_note_missing_is_404(api: TestClient) -> None:
    # The demo answered 200 here.
    create(api, "Other")

    response = api.delete("/notes/2")

    assert response.status_code == 404
    assert response.json() == {"detail": "Note not found"}
    assert count(api) == 1
