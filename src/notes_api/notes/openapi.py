"""How OpenAPI shows the notes' headers: what the routes read (If-Match, If-None-Match, Prefer)
and what they answer (ETag, Content-Range, ...). The routes read these headers from the request
themselves, which costs less than declaring them as parameters (see dependencies.py)."""

from __future__ import annotations

from typing import Any

from notes_api.dependencies import READ_FROM


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    # OpenAPI requires a header's schema.
    return {"description": description, "schema": schema or {"type": "string"}}


def _parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False} | _header(description)


ETAG = {"ETag": _header('The note\'s version, as a strong entity tag: `"3"`.')}
REPLAYED = {
    "Idempotent-Replayed": _header(
        "`true` when this is the stored answer to an earlier request with the same Idempotency-Key."
    )
}

# An answer with one note (GET, POST, PUT, PATCH, DELETE).
NOTE_HEADERS: dict[int | str, dict[str, Any]] = {200: {"headers": ETAG | REPLAYED}}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "The note still matches If-None-Match: no body.", "headers": ETAG}
}
COUNTED_PAGE: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "Link": _header('rel="next": the following page'),
            "Content-Range": _header(
                "With `Prefer: count=...`: the page's first and last index among the notes "
                "matching the filters, and how many they are: `0-19/1234` (`*/1234` for an "
                "empty page)."
            ),
            "Preference-Applied": _header("`count=exact` or `count=planned`, as honoured."),
        }
    }
}

IF_MATCH = _parameter(
    "If-Match",
    "Write only if the note is still at this ETag (or any of a comma-separated list; `*`: if it "
    "exists); else 412 and nothing changes. Required with REQUIRE_IF_MATCH=true (428).",
)
IF_NONE_MATCH = _parameter(
    "If-None-Match", "The ETag the client holds: while the note is at it, 304 and no body."
)
PREFER = _parameter(
    "Prefer",
    "`count=exact`: count the notes matching the filters (`Content-Range`); `count=planned`: "
    "PostgreSQL's estimate, fast on any number of notes. Without it, nothing is counted.",
)

CONDITIONAL_WRITE: dict[str, Any] = {"parameters": [IF_MATCH]}
CONDITIONAL_READ: dict[str, Any] = READ_FROM | {
    "parameters": [*READ_FROM["parameters"], IF_NONE_MATCH]
}
COUNTED_READ: dict[str, Any] = READ_FROM | {"parameters": [*READ_FROM["parameters"], PREFER]}
