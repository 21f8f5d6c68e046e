"""JSON answers built straight from database rows with orjson.

A route that returns a model makes FastAPI validate it again against the response model and then
serialise it: for a row the database just produced, that is work with nothing to find. These
answers write the row's columns as JSON directly, byte for byte what the `Note` model gives
(timestamps in ISO 8601 with a `Z`), and the routes keep declaring `response_model` for OpenAPI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import orjson
from fastapi import Response

# UTC timestamps end in "Z", as pydantic writes them.
OPTIONS = orjson.OPT_UTC_Z
MEDIA_TYPE = "application/json"


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=OPTIONS)


def row_response(row: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    """One row as a JSON object."""
    return Response(dumps(dict(row)), media_type=MEDIA_TYPE, headers=headers)


def rows_response(
    rows: Iterable[Mapping[str, Any]], headers: Mapping[str, str] | None = None
) -> Response:
    """Rows as a JSON array."""
    return Response(dumps([dict(row) for row in rows]), media_type=MEDIA_TYPE, headers=headers)


async def json_array(batches: AsyncIterator[Iterable[Mapping[str, Any]]]) -> AsyncIterator[bytes]:
    """A JSON array written batch by batch: one chunk of bytes per batch of rows."""
    yield b"["
    separator = b""
    async for batch in batches:
        encoded = [dumps(dict(row)) for row in batch]
        if encoded:
            yield separator + b",".join(encoded)
            separator = b","
    yield b"]"
