"""Idempotency-Key on POST and PATCH: done once, replayed, 422 for another request under the same
key, 409 while the first runs, 400 for a malformed key; without the header nothing changes."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
import requests
from fastapi.testclient import TestClient
from pydantic import SecretStr

from notes_api.app import create_app
from notes_api.config import Settings
from notes_api.idempotency import keys
from tests.support import ServerProcess, sql

KEY_VALUE = "8e03978e-40d5-43e8-bc93-6894a57f9324"
KEY = {"Idempotency-Key": f'"{KEY_VALUE}"'}


def notes_in(url: str) -> int:
    count: int = sql(url, "SELECT count(*) FROM notes")[0][0]
    return count


def test_a_repeated_post_makes_one_note_and_replays_the_first_answer(
    api: TestClient, notes_url: str
) -> None:
    first = api.post("/notes", json={"text": "Buy milk"}, headers=KEY)
    again = api.post("/notes", json={"text": "Buy milk"}, headers=KEY)
    third = api.post("/notes", json={"text": "Buy milk"}, headers=KEY)

    assert first.status_code == again.status_code == third.status_code == 200
    assert again.content == third.content == first.content
    assert again.headers["etag"] == first.headers["etag"] == '"1"'
    assert again.headers["content-type"] == "application/json"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == third.headers["idempotent-replayed"] == "true"
    assert notes_in(notes_url) == 1


def test_a_bare_key_works_as_a_quoted_one(api: TestClient, notes_url: str) -> None:
    bare = {"Idempotency-Key": "8e03978e-40d5-43e8-bc93-6894a57f9324"}
    first = api.post("/notes", json={"text": "x"}, headers=bare)
    again = api.post("/notes", json={"text": "x"}, headers=KEY)  # the same key, quoted

    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert notes_in(notes_url) == 1


def test_without_a_key_every_post_makes_a_note(api: TestClient, notes_url: str) -> None:
    answers = [api.post("/notes", json={"text": "x"}) for _ in range(2)]

    assert [a.json()["id"] for a in answers] == [1, 2]
    assert notes_in(notes_url) == 2


def test_the_same_key_with_another_body_is_422_and_writes_nothing(
    api: TestClient, notes_url: str
) -> None:
    api.post("/notes", json={"text": "Buy milk"}, headers=KEY)

    other = api.post("/notes", json={"text": "Buy bread"}, headers=KEY)

    assert other.status_code == 422
    (problem,) = other.json()["detail"]
    assert problem["loc"] == ["header", "idempotency-key"]
    assert problem["msg"] == "This key was used for another request; use a new key"
    assert notes_in(notes_url) == 1


def test_the_same_key_on_another_path_or_method_is_422(api: TestClient) -> None:
    api.post("/notes", json={"text": "a"})
    api.post("/notes", json={"text": "b"})
    api.patch("/notes/1", json={"completed": True}, headers=KEY)

    other_note = api.patch("/notes/2", json={"completed": True}, headers=KEY)
    other_method = api.post("/notes", json={"completed": True}, headers=KEY)

    assert (other_note.status_code, other_method.status_code) == (422, 422)
    assert api.get("/notes/2").json()["completed"] is False


def test_a_repeated_patch_is_done_once(api: TestClient) -> None:
    api.post("/notes", json={"text": "a"})
    first = api.patch("/notes/1", json={"completed": True}, headers=KEY)
    api.put("/notes/1", json={"text": "changed since"})

    again = api.patch("/notes/1", json={"completed": True}, headers=KEY)

    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"] == '"2"'
    assert again.headers["idempotent-replayed"] == "true"
    # Replayed, not done again: the note stays as the PUT left it.
    note = api.get("/notes/1")
    assert (note.json()["text"], note.headers["etag"]) == ("changed since", '"3"')


def test_a_failed_write_keeps_no_key_and_may_be_retried(api: TestClient, notes_url: str) -> None:
    missing = api.patch("/notes/1", json={"completed": True}, headers=KEY)
    api.post("/notes", json={"text": "a"})
    retried = api.patch("/notes/1", json={"completed": True}, headers=KEY)

    assert missing.status_code == 404
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers
    assert sql(notes_url, "SELECT count(*) FROM idempotency_keys")[0][0] == 1


@pytest.mark.parametrize(
    "key",
    ["", '""', '"unterminated', "two words", '"tab\there"', "x" * 256, '"é"', '"\\x"'],
)
def test_a_malformed_key_is_400_and_writes_nothing(
    api: TestClient, notes_url: str, key: str
) -> None:
    answer = api.post(
        "/notes", json={"text": "x"}, headers={b"Idempotency-Key": key.encode("utf-8")}
    )

    assert answer.status_code == 400
    assert "Idempotency-Key" in answer.json()["detail"]
    assert notes_in(notes_url) == 0


def test_a_key_in_use_by_a_running_request_is_409(api: TestClient, notes_url: str) -> None:
    """The first request holds its key's lock until its transaction ends: a repeat meanwhile is
    told to retry, and does not wait."""
    held = threading.Event()
    release = threading.Event()

    async def hold_the_lock() -> None:
        connection = await asyncpg.connect(notes_url)
        try:
            async with connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(1801812339, hashtext($1))",
                    "8e03978e-40d5-43e8-bc93-6894a57f9324",
                )
                held.set()
                await asyncio.to_thread(release.wait, 10)
        finally:
            await connection.close()

    holder = threading.Thread(target=asyncio.run, args=(hold_the_lock(),))
    holder.start()
    try:
        assert held.wait(10)
        answer = api.post("/notes", json={"text": "x"}, headers=KEY)
    finally:
        release.set()
        holder.join()

    assert answer.status_code == 409
    assert answer.headers["retry-after"] == "1"
    assert "in progress" in answer.json()["detail"]
    assert notes_in(notes_url) == 0


def test_a_key_held_by_a_transaction_left_waiting_is_freed_by_the_server(
    api: TestClient, notes_url: str
) -> None:
    """An instance cut off in the middle of a keyed write leaves its transaction open on the
    server, holding the key: PostgreSQL ends it after HELD_IDLE_AT_MOST, and the client's retry
    through another instance goes through instead of getting 409 for minutes."""

    async def vanish() -> tuple[int, int, bool]:
        connection = await asyncpg.connect(notes_url)
        await connection.execute("BEGIN")
        await connection.fetchrow(keys.TAKE_LOCK.sql, KEY_VALUE)  # and then nothing more
        held = await asyncio.to_thread(api.post, "/notes", json={"text": "x"}, headers=KEY)
        await asyncio.sleep(3)  # HELD_IDLE_AT_MOST is 2 s
        freed = await asyncio.to_thread(api.post, "/notes", json={"text": "x"}, headers=KEY)
        ended = connection.is_closed() or await _terminated(connection)
        return held.status_code, freed.status_code, ended

    assert keys.HELD_IDLE_AT_MOST == "2s"
    assert asyncio.run(vanish()) == (409, 200, True)
    assert notes_in(notes_url) == 1


async def _terminated(connection: asyncpg.Connection) -> bool:
    try:
        await connection.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return True
    finally:
        connection.terminate()
    return False


def test_eight_concurrent_posts_with_one_key_make_one_note(
    server: ServerProcess, notes_url: str
) -> None:
    barrier = threading.Barrier(8)

    def post(_: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait(10)
            while True:  # a client retries a 409 after Retry-After, as the docs say
                answer = session.post(
                    f"{server.base}/notes", json={"text": "once"}, headers=KEY, timeout=10
                )
                if answer.status_code != 409:
                    return answer

    with ThreadPoolExecutor(8) as clients:
        answers = list(clients.map(post, range(8)))

    assert [a.status_code for a in answers] == [200] * 8
    assert {a.content for a in answers} == {answers[0].content}
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 7
    assert notes_in(notes_url) == 1


def test_an_expired_key_is_a_new_key(settings: Settings, notes_url: str) -> None:
    brief = settings.model_copy(update={"idempotency_ttl": 1})
    with TestClient(create_app(brief)) as api:
        first = api.post("/notes", json={"text": "x"}, headers=KEY)
        sql(notes_url, "UPDATE idempotency_keys SET created_at = now() - interval '2 seconds'")
        after_expiry = api.post("/notes", json={"text": "x"}, headers=KEY)
        replayed = api.post("/notes", json={"text": "x"}, headers=KEY)

    assert (first.json()["id"], after_expiry.json()["id"]) == (1, 2)
    assert "idempotent-replayed" not in after_expiry.headers
    assert replayed.json()["id"] == 2
    assert notes_in(notes_url) == 2


def test_with_api_token_the_token_is_part_of_the_request(
    settings: Settings, clean_notes: None, notes_url: str
) -> None:
    guarded = settings.model_copy(update={"api_token": SecretStr("secret")})
    with TestClient(create_app(guarded)) as api:
        good = {"Authorization": "Bearer secret"} | KEY
        first = api.post("/notes", json={"text": "x"}, headers=good)
        wrong = api.post("/notes", json={"text": "x"}, headers={"Authorization": "Bearer no"} | KEY)
        again = api.post("/notes", json={"text": "x"}, headers=good)

    assert wrong.status_code == 401  # refused before the key is looked at: nothing replayed
    assert (first.status_code, again.headers["idempotent-replayed"]) == (200, "true")
    assert notes_in(notes_url) == 1
