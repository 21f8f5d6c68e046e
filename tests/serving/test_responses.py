"""serving/responses.py's claim: for the same row, the bytes orjson writes are the bytes FastAPI
would write through the `Note` model (`Note.model_validate(row).model_dump_json()`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from notes_api.notes.schemas import Note
from notes_api.notes.tables import ID_MAX, TEXT_MAX_LENGTH
from notes_api.serving.responses import dumps, json_array
from tests.support import sql

ROWS = {
    "plain": (1, "Buy milk", False, "2026-11-30 08:15:31.123456+00"),
    "whole seconds": (2, "Done", True, "2026-01-01 00:00:00+00"),
    "milliseconds": (3, "x", False, "2026-11-30 08:15:31.1+00"),
    "another zone": (4, "x", False, "2026-06-01 12:00:00.5+05:30"),
    "largest id": (ID_MAX, "last", True, "2026-11-30 08:15:31+00"),
    "unicode": (5, "ünïcødé 中文 🎉 \u2028 \u00a0", False, "2026-11-30 08:15:31+00"),
    "escapes": (
        6,
        'quote " backslash \\ tab \t newline \n bell \x07',
        False,
        "2026-11-30 08:15:31+00",
    ),
    "longest": (7, "é" * TEXT_MAX_LENGTH, False, "2026-11-30 08:15:31+00"),
}


@pytest.mark.parametrize("case", ROWS)
def test_a_row_is_written_as_the_note_model_writes_it(notes_url: str, case: str) -> None:
    note_id, text, completed, stamp = ROWS[case]
    sql(
        notes_url,
        "INSERT INTO notes (id, text, completed, created_at, updated_at) OVERRIDING SYSTEM VALUE"
        " VALUES ($1, $2, $3, $4::text::timestamptz, $4::text::timestamptz)",
        note_id,
        text,
        completed,
        stamp,
    )
    # An asyncpg Record of the columns a client sees (service.PUBLIC), as the service gets.
    [row] = sql(notes_url, "SELECT id, text, completed, created_at, updated_at FROM notes")

    assert dumps(dict(row)) == Note.model_validate(dict(row)).model_dump_json().encode()


def test_naive_and_offset_datetimes_are_written_alike_too() -> None:
    for stamp in (
        datetime(2026, 11, 30, 8, 15, 31, 120000, tzinfo=UTC),
        datetime(2026, 11, 30, 8, 15, 31, tzinfo=timezone(timedelta(hours=-3))),
    ):
        row = {"id": 1, "text": "t", "completed": False, "created_at": stamp, "updated_at": stamp}

        assert dumps(row) == Note.model_validate(row).model_dump_json().encode()


def test_an_export_is_one_json_array_of_the_rows() -> None:
    rows = [{"id": i, "text": f"n{i}"} for i in range(5)]

    async def batches() -> AsyncIterator[list[dict[str, object]]]:
        yield rows[:2]
        yield []
        yield rows[2:]

    async def export() -> bytes:
        return b"".join([chunk async for chunk in json_array(batches())])

    assert json.loads(asyncio.run(export())) == rows
