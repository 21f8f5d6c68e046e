"""Core statements compiled once (notes_api.compiled): the SQL asyncpg receives, and its values."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select

from notes_api.compiled import Compiled
from notes_api.service import _page, _update
from notes_api.tables import notes


def test_compile_numbers_parameters_for_asyncpg() -> None:
    query = Compiled(select(notes.c.id, notes.c.text).where(notes.c.id == bindparam("note_id")))

    assert query.sql == "SELECT notes.id, notes.text \nFROM notes \nWHERE notes.id = $1"
    assert query.parameters == ("note_id",)
    assert query.columns == ("id", "text")
    assert query.arguments({"note_id": 7}) == [7]


def test_compile_orders_values_as_the_sql_numbers_them() -> None:
    query = _update(("text", "completed"))

    assert query.sql.startswith("UPDATE notes SET text=$3, completed=$1 WHERE notes.id = $2")
    assert query.arguments({"text": "t", "completed": True, "note_id": 9}) == [True, 9, "t"]


def test_cursor_page_filters_on_the_primary_key_only_when_asked() -> None:
    assert "WHERE notes.id > $1 ORDER BY notes.id" in _page(True, False).sql
    assert "WHERE" not in _page(False, False).sql


def test_compile_refuses_a_missing_value() -> None:
    with pytest.raises(TypeError, match="note_id"):
        _update(("text",)).arguments({"text": "t"})
