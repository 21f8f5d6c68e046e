"""Conditional requests (RFC 9110, section 13): entity tags made from a version number, and the
`If-Match` and `If-None-Match` headers read into the versions they name.

A note's ETag is its version in quotes, `"3"`: strong, since the version changes with every write
to the row. Parsing is lenient, as the RFC lets a server be: a member of the list that is not an
entity tag this service made cannot match anything, so it is passed over, never an error.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from fastapi import Request

from notes_api.errors import IF_MATCH_REQUIRED

# A version is a bigint: a larger number in a tag names none.
VERSION_MAX = 2**63 - 1
# What `If-Match` asks of a write: any current version ("*"), or one of these versions.
Expected: TypeAlias = Literal["*"] | frozenset[int]


def etag(version: int) -> str:
    return f'"{version}"'


def versions(field: str, *, weak: bool) -> frozenset[int]:
    """The versions named by the entity tags of a header's comma-separated list. Weak tags
    (`W/"3"`) count only when `weak` (If-None-Match's weak comparison; If-Match's is strong)."""
    named = set()
    for member in field.split(","):
        tag = member.strip()
        if tag.startswith("W/"):
            if not weak:
                continue
            tag = tag[2:]
        digits = tag[1:-1]
        if len(tag) > 2 and tag[0] == tag[-1] == '"' and digits.isascii() and digits.isdigit():
            version = int(digits)
            if version <= VERSION_MAX:
                named.add(version)
    return frozenset(named)


def if_none_match(request: Request, version: int) -> bool:
    """True when `If-None-Match` matches `version`: the client has this version already (a GET
    then answers 304)."""
    field = request.headers.get("if-none-match")
    if field is None:
        return False
    return field.strip() == "*" or version in versions(field, weak=True)


def if_match(request: Request) -> Expected | None:
    """What `If-Match` asks of a write: None when it is absent (no condition), unless the
    service requires it (REQUIRE_IF_MATCH: 428)."""
    field = request.headers.get("if-match")
    if field is None:
        if request.state.require_if_match:
            raise IF_MATCH_REQUIRED.exception()
        return None
    if field.strip() == "*":
        return "*"
    return versions(field, weak=False)
