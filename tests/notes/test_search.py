"""GET /notes?q=: full-text search over the notes' text, through HTTP, against the real database
(migrated to head: the search index is there)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest
from fastapi.testclient import TestClient

from notes_api.database import Database
from notes_api.notes import service
from tests.support import on_database, sql


def create(api: TestClient, text: str, completed: bool = False) -> int:
    response = api.post("/notes", json={"text": text, "completed": completed})
    assert response.status_code == 200, response.text
    note_id: int = response.json()["id"]
    return note_id


def found(api: TestClient, **params: Any) -> list[str]:
    response = api.get("/notes", params=params)
    assert response.status_code == 200, response.text
    return [note["text"] for note in response.json()]


@pytest.fixture
def shopping(api: TestClient) -> TestClient:
    for text, completed in [
        ("Buy milk", False),
        ("Buy bread and milk", True),
        ("Call the bank", False),
        ("Milk the cow", False),
        ("Bread: sourdough, not rye", True),
    ]:
        create(api, text, completed)
    return api


def test_q_finds_the_notes_with_a_word_in_id_order(shopping: TestClient) -> None:
    assert found(shopping, q="milk") == ["Buy milk", "Buy bread and milk", "Milk the cow"]
    assert found(shopping, q="MILK") == found(shopping, q="milk")  # case does not matter
    assert found(shopping, q="bread milk") == ["Buy bread and milk"]  # every word
    assert found(shopping, q="cheese") == []


def test_q_reads_queries_as_a_web_search_engine_does(shopping: TestClient) -> None:
    assert found(shopping, q='"buy bread"') == ["Buy bread and milk"]  # a phrase
    assert found(shopping, q="milk -buy") == ["Milk the cow"]  # without
    assert found(shopping, q="bank or cow") == ["Call the bank", "Milk the cow"]
    assert found(shopping, q="sourdough,") == ["Bread: sourdough, not rye"]  # punctuation


def test_q_combines_with_completed_take_and_the_cursor(shopping: TestClient) -> None:
    assert found(shopping, q="milk", completed="true") == ["Buy bread and milk"]
    assert found(shopping, q="milk", completed="false") == ["Buy milk", "Milk the cow"]

    first = shopping.get("/notes", params={"q": "milk or bread", "take": 2})
    assert [n["text"] for n in first.json()] == ["Buy milk", "Buy bread and milk"]
    # The next page's link keeps the search, encoded.
    assert first.headers["Link"] == '</notes?after=2&take=2&q=milk%20or%20bread>; rel="next"'
    following = first.headers["Link"].split(">")[0].lstrip("<")
    second = shopping.get(following)
    assert [n["text"] for n in second.json()] == ["Milk the cow", "Bread: sourdough, not rye"]
    assert "Link" in second.headers
    assert shopping.get(second.headers["Link"].split(">")[0].lstrip("<")).json() == []


def test_q_counts_what_it_matches(shopping: TestClient) -> None:
    response = shopping.get(
        "/notes", params={"q": "milk", "take": 1, "after": 1}, headers={"Prefer": "count=exact"}
    )

    assert [n["text"] for n in response.json()] == ["Buy bread and milk"]
    assert response.headers["Content-Range"] == "1-1/3"


def test_a_blank_q_is_no_search(shopping: TestClient) -> None:
    assert len(found(shopping, q="")) == 5
    assert len(found(shopping, q="   ")) == 5


@pytest.mark.parametrize(
    "q",
    [
        "!!!",  # no word at all: matches nothing, says nothing
        "the & | ! <-> :* ( ) '",  # tsquery's own syntax, which websearch_to_tsquery ignores
        '"unbalanced',
        "-",
        "or",
        "milk\x00bread",  # PostgreSQL's text holds no NUL
        "молоко 牛乳 🥛",
        "a" * 500,
        "'; DROP TABLE notes; --",
    ],
)
def test_any_q_is_a_valid_search(shopping: TestClient, q: str) -> None:
    response = shopping.get("/notes", params={"q": q})

    assert response.status_code == 200, response.text
    assert isinstance(response.json(), list)
    assert len(found(shopping)) == 5  # nothing changed


def test_a_q_longer_than_500_characters_is_refused(shopping: TestClient) -> None:
    response = shopping.get("/notes", params={"q": "a" * 501})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "q"]


def test_the_search_is_in_openapi(api: TestClient) -> None:
    parameters = api.get("/openapi.json").json()["paths"]["/notes"]["get"]["parameters"]
    q = next(p for p in parameters if p["name"] == "q")

    assert q["in"] == "query"
    assert q["required"] is False
    assert "phrase" in q["description"]


def test_a_search_reads_the_index(notes_url: str) -> None:
    """The page's statement, with the configuration as a constant, is the index's expression: the
    planner takes the GIN index (migration 0003) for a word few notes have."""
    statement = service.search_pages("simple")[False, False]
    sql(notes_url, "INSERT INTO notes (text) SELECT 'note ' || i FROM generate_series(1, 5000) i")
    sql(notes_url, "ANALYZE notes")
    arguments = statement.arguments({"q": "17", "skip": 0, "take": 20})
    explain = sql(notes_url, f"EXPLAIN (FORMAT JSON) {statement.sql}", *arguments)[0][0]

    assert "ix_notes_text_search" in json.dumps(explain)


def test_a_search_is_planned_for_its_words_every_time(notes_url: str) -> None:
    """After five runs of a prepared statement PostgreSQL may settle on one plan for any words,
    which at a million notes walks the whole table for a rare word (docs/database.md): each
    search is planned for its words, even where the database is set to keep generic plans."""
    sql(notes_url, "INSERT INTO notes (text) SELECT 'note ' || i FROM generate_series(1, 100) i")
    database_name = notes_url.rsplit("/", 1)[1]
    sql(notes_url, f'ALTER DATABASE "{database_name}" SET plan_cache_mode = force_generic_plan')

    async def search_often(database: Database) -> list[asyncpg.Record]:
        for word in range(11, 23):
            page = await service.list_notes(database, take=20, q=str(word))
            assert [note["text"] for note in page] == [f"note {word}"]
        async with database.connection() as connection:
            return list(
                await connection.raw_connection.fetch(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE statement LIKE 'SELECT notes.id%websearch_to_tsquery%'"
                )
            )

    try:
        plans = on_database(notes_url, search_often, min_size=1, max_size=1)
    finally:
        sql(notes_url, f'ALTER DATABASE "{database_name}" RESET plan_cache_mode')

    assert [(row["generic_plans"], row["custom_plans"]) for row in plans] == [(0, 12)]
