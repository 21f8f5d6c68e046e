"""`Prefer: count=exact` and `count=planned` on GET /notes: Content-Range and Preference-Applied;
without the header nothing is counted."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import sql


@pytest.fixture
def thirty(api: TestClient, notes_url: str) -> TestClient:
    """30 notes; ids 1 to 30, the even ones completed (15); planner statistics fresh."""
    sql(
        notes_url,
        "INSERT INTO notes (text, completed)"
        " SELECT 'n' || i, i % 2 = 0 FROM generate_series(1, 30) i",
    )
    sql(notes_url, "ANALYZE notes")
    return api


def page(api: TestClient, query: str, prefer: str | None = "count=exact") -> tuple[str | None, ...]:
    headers = {"Prefer": prefer} if prefer is not None else {}
    answer = api.get(f"/notes{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.headers.get("content-range"), answer.headers.get("preference-applied")


def test_count_exact_says_where_the_page_is_among_all_matching_notes(thirty: TestClient) -> None:
    assert page(thirty, "") == ("0-19/30", "count=exact")
    assert page(thirty, "?skip=20") == ("20-29/30", "count=exact")
    assert page(thirty, "?take=5&skip=3") == ("3-7/30", "count=exact")


def test_count_exact_counts_the_filtered_notes_and_the_cursor_position(thirty: TestClient) -> None:
    assert page(thirty, "?completed=true&take=5") == ("0-4/15", "count=exact")
    # After id 10: ids 1..10 come before (10 notes), of the completed ones 5 (2, 4, ..., 10).
    assert page(thirty, "?after=10&take=5") == ("10-14/30", "count=exact")
    assert page(thirty, "?after=10&completed=true&take=5&skip=1") == ("6-10/15", "count=exact")


def test_an_empty_page_has_no_first_and_last_index(thirty: TestClient) -> None:
    assert page(thirty, "?after=30") == ("*/30", "count=exact")
    assert page(thirty, "?skip=100") == ("*/30", "count=exact")


def test_count_planned_is_the_planners_estimate(thirty: TestClient, notes_url: str) -> None:
    # After ANALYZE the estimate of a small table is exact.
    assert page(thirty, "", "count=planned") == ("0-19/30", "count=planned")
    range_, _ = page(thirty, "?completed=true&take=5", "count=planned")
    assert range_ is not None
    first_last, estimate = range_.split("/")
    assert first_last == "0-4"
    assert 10 <= int(estimate) <= 20  # 15 exactly; the planner may be off a little


def test_without_a_count_preference_nothing_is_counted(thirty: TestClient) -> None:
    assert page(thirty, "", None) == (None, None)
    assert page(thirty, "", "return=minimal") == (None, None)
    assert page(thirty, "", "count=sometimes") == (None, None)


def test_prefer_is_read_as_rfc_7240_writes_it(thirty: TestClient) -> None:
    assert page(thirty, "", "return=minimal, COUNT=exact") == ("0-19/30", "count=exact")
    assert page(thirty, "", 'count="exact"; x=1') == ("0-19/30", "count=exact")
