"""Input meant to hurt: bodies too large, text PostgreSQL cannot store, odd Unicode, SQL in every
place a client controls, very long URLs. Each gets a 4xx or a verbatim round trip, never a 500,
never a partial write."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests
from fastapi.testclient import TestClient

from notes_api.app import create_app
from notes_api.config import Settings
from tests.support import ServerProcess

LIMIT = Settings(_env_file=None).max_body_size


def stored(api: TestClient) -> list[dict[str, object]]:
    notes: list[dict[str, object]] = api.get("/notes/all").json()
    return notes


# --- body size --------------------------------------------------------------------------------


def test_create_note_over_the_body_limit_is_413(api: TestClient) -> None:
    body = json.dumps({"text": "x" * (LIMIT + 1)})

    response = api.post("/notes", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.json() == {"detail": f"The request body is larger than {LIMIT} bytes"}
    assert stored(api) == []


def test_create_note_streamed_over_the_body_limit_is_413(api: TestClient) -> None:
    # Chunked: no Content-Length to refuse up front; the count of bytes read stops it.
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(LIMIT // 1024 + 1):
            yield b"x" * 1024
        yield b'"}'

    response = api.post("/notes", content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert stored(api) == []


def test_body_at_the_limit_is_read(api: TestClient) -> None:
    text = json.dumps({"text": "fits"})
    body = text + " " * (LIMIT - len(text))  # JSON allows trailing whitespace

    response = api.post("/notes", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 200
    assert response.json()["text"] == "fits"


def test_body_limit_is_a_setting(notes_url: str) -> None:
    settings = Settings(_env_file=None, database_url=notes_url, max_body_size=100)
    with TestClient(create_app(settings)) as small:
        assert small.post("/notes", json={"text": "x" * 99}).status_code == 413
        assert small.post("/notes", json={"text": "x" * 50}).status_code == 200


@pytest.mark.e2e
def test_oversized_body_is_refused_before_it_is_sent(server: ServerProcess) -> None:
    # Announce 100 MB, send none of it: the answer comes at once, from the headers alone.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        connection.sendall(
            b"POST /notes HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n"
        )
        received = b""
        while chunk := connection.recv(65536):  # until the server closes the connection
            received += chunk
        answer = received.decode()

    assert answer.startswith("HTTP/1.1 413 ")
    assert "larger than 65536 bytes" in answer
    assert requests.get(f"{server.base}/notes", timeout=5).json() == []


@pytest.mark.e2e
@pytest.mark.parametrize("length", [8_000, 60_000, 1_000_000])
def test_very_long_query_string_is_never_a_500(server: ServerProcess, length: int) -> None:
    try:
        response = requests.get(f"{server.base}/notes?completed=true&x={'a' * length}", timeout=5)
    except requests.ConnectionError:
        pass  # the server may drop a request line this long; it must still serve the next one
    else:
        assert response.status_code < 500
        if response.ok:
            assert response.json() == []
    assert requests.get(f"{server.base}/health", timeout=5).status_code == 200


# --- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "e\u0301\u0301\u0301 combining marks",
        "👩‍👩‍👧‍👦 zero-width joiners",
        "\u202eright-to-left override",
        "\ufeffbyte order mark",
        "line\u2028separator\u2029paragraph",
        "\U0001d54f\U0010fffd astral and private use",
        "\uffff\ufffe noncharacters",
        "\x01\x07\x1b[31m control characters",
        "tab\tnewline\ncarriage\r",
        "$1 $$ :name %(text)s {0} ? placeholders",
        "' OR '1'='1",
        "1); DELETE FROM notes; --",
        "E'\\x00' \\0 not a NUL",
        "😀" * 100,
    ],
)
def test_odd_text_round_trips_verbatim(api: TestClient, text: str) -> None:
    created = api.post("/notes", json={"text": text})

    assert created.status_code == 200, created.text
    assert created.json()["text"] == text
    assert api.get(f"/notes/{created.json()['id']}").json()["text"] == text
    assert [note["text"] for note in stored(api)] == [text]


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"text": "nul \\u0000 inside"}', ["body", "text"]),
        ('{"text": "' + "😀" * 101 + '"}', ["body", "text"]),
        (b'{"text": "\\udfff lone low surrogate"}', ["body", "text"]),
        (b'{"text": "ok", "completed": "1; DROP TABLE notes"}', ["body", "completed"]),
    ],
)
def test_text_the_database_cannot_store_is_422(
    api: TestClient, raw: bytes | str, where: list[object]
) -> None:
    response = api.post("/notes", content=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][: len(where)] == where
    assert stored(api) == []


def test_invalid_utf8_body_is_400(api: TestClient) -> None:
    response = api.post(
        "/notes", content=b'{"text": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert stored(api) == []


@pytest.mark.parametrize(
    "path",
    [
        "/notes/1;DROP TABLE notes",
        "/notes/1 OR 1=1",
        "/notes/1'--",
        "/notes?completed=true'--",
        "/notes?after=1 OR 1=1",
        "/notes?take=1;DELETE FROM notes",
    ],
)
def test_sql_in_the_url_is_422_and_harmless(api: TestClient, path: str) -> None:
    note = api.post("/notes", json={"text": "still here"}).json()

    response = api.get(path)

    assert response.status_code == 422
    assert stored(api) == [note]


def test_rejected_update_changes_nothing(api: TestClient) -> None:
    note = api.post("/notes", json={"text": "before"}).json()

    bad_put = api.put(f"/notes/{note['id']}", json={"text": "after", "completed": "maybe"})
    bad_patch = api.patch(f"/notes/{note['id']}", json={"text": "after", "completed": None})
    nul_patch = api.patch(f"/notes/{note['id']}", json={"text": "after\u0000", "completed": True})

    assert [bad_put.status_code, bad_patch.status_code, nul_patch.status_code] == [422] * 3
    assert stored(api) == [note]
