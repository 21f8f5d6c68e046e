"""Conditional requests on a note: ETag on every answer with one note, If-None-Match (304),
If-Match (412, checked in the write itself), REQUIRE_IF_MATCH (428)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from fastapi.testclient import TestClient

from notes_api.app import create_app
from notes_api.config import Settings
from tests.support import ServerProcess, sql


def create(api: TestClient, text: str = "Test") -> None:
    response = api.post("/notes", json={"text": text})
    assert response.status_code == 200, response.text


def test_every_answer_with_one_note_carries_its_version_as_a_strong_etag(
    api: TestClient,
) -> None:
    created = api.post("/notes", json={"text": "Test"})
    read = api.get("/notes/1")
    replaced = api.put("/notes/1", json={"text": "Replaced"})
    patched = api.patch("/notes/1", json={"completed": True})
    deleted = api.delete("/notes/1")

    etags = [r.headers.get("etag") for r in (created, read, replaced, patched, deleted)]
    assert etags == ['"1"', '"1"', '"2"', '"3"', '"3"']
    assert "version" not in read.json()  # the version is in the ETag, not in the note
    assert "etag" not in api.get("/notes").headers


def test_a_change_made_outside_the_api_changes_the_etag(api: TestClient, notes_url: str) -> None:
    create(api)
    sql(notes_url, "UPDATE notes SET text = 'from psql'")  # as Adminer would

    assert api.get("/notes/1").headers["etag"] == '"2"'


def test_if_none_match_answers_304_without_a_body_while_the_note_is_unchanged(
    api: TestClient,
) -> None:
    create(api)

    unchanged = api.get("/notes/1", headers={"If-None-Match": '"1"'})
    weak = api.get("/notes/1", headers={"If-None-Match": 'W/"1"'})
    listed = api.get("/notes/1", headers={"If-None-Match": '"7", "1"'})
    star = api.get("/notes/1", headers={"If-None-Match": "*"})
    api.patch("/notes/1", json={"completed": True})
    changed = api.get("/notes/1", headers={"If-None-Match": '"1"'})

    for answer in (unchanged, weak, listed, star):
        assert (answer.status_code, answer.content, answer.headers["etag"]) == (304, b"", '"1"')
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'
    assert changed.json()["completed"] is True


def test_if_none_match_with_tags_this_service_never_made_reads_the_note(
    api: TestClient,
) -> None:
    create(api)

    for field in ('"abc"', "1", '"99999999999999999999999"', ",,", '"-1"', b'"\xe9"'):
        value = field if isinstance(field, bytes) else field.encode()
        answer = api.get("/notes/1", headers={b"If-None-Match": value})
        assert (answer.status_code, answer.json()["id"]) == (200, 1), field


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_with_the_current_etag_writes(api: TestClient, method: str) -> None:
    create(api)

    answer = api.request(method, "/notes/1", json=BODIES[method], headers={"If-Match": '"1"'})

    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == 1


CHANGED = "The note is not at the version If-Match names; read it again"
BODIES = {"PUT": {"text": "New"}, "PATCH": {"text": "New"}, "DELETE": None}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("field", ['"2"', 'W/"1"', '"abc"', "garbage"])
def test_if_match_with_another_etag_answers_412_and_changes_nothing(
    api: TestClient, method: str, field: str
) -> None:
    create(api, "Original")

    answer = api.request(method, "/notes/1", json=BODIES[method], headers={"If-Match": field})

    assert answer.status_code == 412
    assert answer.json() == {
        "detail": "The note is not at the version If-Match names; read it again"
    }
    note = api.get("/notes/1")
    assert (note.json()["text"], note.headers["etag"]) == ("Original", '"1"')


def test_if_match_star_writes_a_note_that_exists_and_412_for_one_that_does_not(
    api: TestClient,
) -> None:
    create(api)

    existing = api.put("/notes/1", json={"text": "New"}, headers={"If-Match": "*"})
    missing = api.put("/notes/2", json={"text": "New"}, headers={"If-Match": "*"})
    without = api.put("/notes/2", json={"text": "New"})

    assert (existing.status_code, existing.headers["etag"]) == (200, '"2"')
    assert missing.status_code == 412
    assert without.status_code == 404


def test_an_empty_patch_still_checks_if_match(api: TestClient) -> None:
    create(api)

    stale = api.patch("/notes/1", json={}, headers={"If-Match": '"5"'})
    current = api.patch("/notes/1", json={}, headers={"If-Match": '"1"'})

    assert stale.status_code == 412
    assert (current.status_code, current.headers["etag"]) == (200, '"1"')


def test_require_if_match_answers_428_to_a_write_without_it(
    settings: Settings, clean_notes: None
) -> None:
    strict = settings.model_copy(update={"require_if_match": True})
    with TestClient(create_app(strict)) as api:
        create(api)
        answers = {
            method: api.request(method, "/notes/1", json=BODIES[method])
            for method in ("PUT", "PATCH", "DELETE")
        }
        allowed = api.put("/notes/1", json={"text": "New"}, headers={"If-Match": '"1"'})

    for answer in answers.values():
        assert answer.status_code == 428
        assert "If-Match" in answer.json()["detail"]
    assert (allowed.status_code, allowed.json()["text"]) == (200, "New")


def increment(base: str, times: int) -> int:
    """Add 1 to the counter in note 1's text `times` times, each read-change-write under
    If-Match, reading again after a 412. Answers how many writes were refused."""
    refused = 0
    with requests.Session() as session:
        done = 0
        while done < times:
            read = session.get(f"{base}/notes/1", timeout=10)
            value = int(read.json()["text"])
            written = session.put(
                f"{base}/notes/1",
                json={"text": str(value + 1)},
                headers={"If-Match": read.headers["etag"]},
                timeout=10,
            )
            if written.status_code == 412:
                refused += 1
                continue
            assert written.status_code == 200, written.text
            done += 1
    return refused


def test_two_editors_incrementing_with_if_match_lose_no_increment(server: ServerProcess) -> None:
    assert requests.post(f"{server.base}/notes", json={"text": "0"}, timeout=10).ok

    with ThreadPoolExecutor(2) as editors:
        refused = list(editors.map(increment, [server.base] * 2, [40, 40]))

    note = requests.get(f"{server.base}/notes/1", timeout=10)
    assert note.json()["text"] == "80", f"refused and retried: {refused}"
    assert note.headers["etag"] == '"81"'
