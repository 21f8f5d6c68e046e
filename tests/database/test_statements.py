"""Statements compiled once (statements.py): the SQL asyncpg receives, and its values in order."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select

from notes_api.database.statements import Statement
from notes_api.notes import service
from notes_api.notes.tables import notes


def test_a_statement_is_compiled_once_to_asyncpgs_numbered_parameters() -> None:
    query = Statement(select(notes.c.id, notes.c.text).where(notes.c.id == bindparam("note_id")))

    assert query.sql == "SELECT notes.id, notes.text \nFROM notes \nWHERE notes.id = $1::BIGINT"
    assert query.names == ("note_id",)
    assert query.arguments({"note_id": 7}) == [7]


def test_values_are_put_in_the_order_the_sql_numbers_them() -> None:
    update = service.UPDATES[("text", "completed"), False]

    assert update.sql.startswith(
        "UPDATE notes SET text=$1::VARCHAR, completed=$2::BOOLEAN WHERE notes.id = $3::BIGINT"
    )
    assert update.arguments({"note_id": 9, "completed": True, "text": "t"}) == ["t", True, 9]


def test_values_written_into_the_statement_are_bound_too() -> None:
    query = Statement(select(notes.c.id).limit(bindparam("take")).offset(0))

    assert query.sql.endswith("LIMIT $1 OFFSET $2::INTEGER")
    assert query.arguments({"take": 5}) == [5, 0]


def test_a_value_is_converted_as_its_column_type_says() -> None:
    # SQLAlchemy's Boolean refuses what is not a bool before it reaches PostgreSQL.
    query = service.UPDATES[("completed",), False]

    with pytest.raises(TypeError):
        query.arguments({"note_id": 1, "completed": "yes"})


def test_the_cursor_page_filters_on_the_primary_key_only_when_asked() -> None:
    assert "WHERE notes.id > $1::BIGINT ORDER BY notes.id" in service.PAGES[True, False].sql
    assert "WHERE" not in service.PAGES[False, False].sql


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"text": "t"}, "no value for 'note_id'"),
        ({"text": "t", "note_id": 1, "completed": True}, "has no parameter 'completed'"),
    ],
)
def test_a_missing_or_unknown_value_is_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        service.UPDATES[("text",), False].arguments(values)
