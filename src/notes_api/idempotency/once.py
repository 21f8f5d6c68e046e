"""The `Idempotency-Key` header on a write: done once, its answer replayed to every repeat.

A client that did not get an answer (a timeout, a dropped connection, a 503 during a failover)
sends the same request again with the same key. The first request with a key runs the write and
stores the key, a fingerprint of the request and the answer, in the write's own transaction: both
commit, or neither. A repeat then finds the key and gets the stored answer again, marked
`Idempotent-Replayed: true`, however many times it is sent. A repeat with another request (the
fingerprint differs) is refused (422); one that comes while the first still runs is told to wait
(409). Only answers of 2xx are kept: a failed write changed nothing, and may simply be retried.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from notes_api.database import Database
from notes_api.errors import BAD_KEY, KEY_IN_USE, key_reused
from notes_api.idempotency.keys import FIND, REMEMBER, TAKE_LOCK

# The draft's key is a structured-field string ("..." with \\ and \" escapes); a bare token of
# the same characters is taken too, as most clients send a UUID unquoted.
KEY = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])+)"|([\x21\x23-\x5b\x5d-\x7e]+)')
KEY_MAX_LENGTH = 255
# The headers of an answer that are kept and replayed with it.
KEPT = ("content-type", "etag")
REPLAYED = {"Idempotent-Replayed": "true"}


@dataclass(frozen=True)
class Key:
    """A request's idempotency key, with its fingerprint and how long keys are kept."""

    value: str
    fingerprint: bytes
    ttl: float


async def idempotency_key(request: Request) -> Key | None:
    """The request's `Idempotency-Key`, if it has one; a malformed one is a 400."""
    # Read here rather than declared as a `Header` parameter or a dependency: the writes without
    # a key pay one lookup, not FastAPI's validation and dependency solving on every POST and
    # PATCH. KEY_HEADER documents it.
    field = request.headers.get("idempotency-key")
    if field is None:
        return None
    match = KEY.fullmatch(field.strip())
    if match is None:
        raise BAD_KEY.exception()
    quoted, bare = match.groups()
    value = bare if bare is not None else re.sub(r"\\(.)", r"\1", quoted)
    if len(value) > KEY_MAX_LENGTH:
        raise BAD_KEY.exception()
    return Key(value, await _fingerprint(request), request.state.idempotency_ttl)


async def _fingerprint(request: Request) -> bytes:
    """What makes a repeat the same request: method, path, the caller's token, the condition, the
    body (FastAPI has read it already: this reads its copy)."""
    digest = hashlib.sha256()
    for part in (request.method, request.url.path):
        digest.update(part.encode() + b"\0")
    for name in ("authorization", "if-match"):
        digest.update(request.headers.get(name, "").encode("latin-1") + b"\0")
    digest.update(await request.body())
    return digest.digest()


async def once(
    request: Request, database: Database, write: Callable[[], Awaitable[Response]]
) -> Response:
    """`write()`'s answer, the first time the request's key is seen; the same answer again after
    that. Without a key, `write()`'s answer."""
    key = await idempotency_key(request)
    if key is None:
        return await write()
    async with database.transaction():
        if not await database.fetch_val(TAKE_LOCK, {"key": key.value}, column="locked"):
            raise KEY_IN_USE.exception()
        stored = await database.fetch_one(FIND, {"key": key.value, "ttl": key.ttl})
        if stored is not None:
            if stored["fingerprint"] != key.fingerprint:
                raise key_reused(key.value)
            return Response(stored["body"], stored["status"], _headers(stored["headers"]))
        answer = await write()
        if 200 <= answer.status_code < 300:
            kept = {name: answer.headers[name] for name in KEPT if name in answer.headers}
            await database.execute(
                REMEMBER,
                {
                    "key": key.value,
                    "fingerprint": key.fingerprint,
                    "status": answer.status_code,
                    "headers": kept,
                    "body": answer.body,
                },
            )
        return answer


def _headers(stored: Any) -> dict[str, str]:
    # asyncpg answers a json column as its text.
    headers: dict[str, str] = json.loads(stored) if isinstance(stored, str) else stored
    return headers | REPLAYED


# The header, as OpenAPI shows it on each keyed route (`openapi_extra=KEY_HEADER`).
KEY_HEADER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": KEY_MAX_LENGTH, "pattern": f"^(?:{KEY.pattern})$"},
    "description": (
        "A key of the client's (a UUID, say) that makes the request safe to retry: the first "
        "request with it is done, every repeat with the same request gets the same answer again "
        "(`Idempotent-Replayed: true`), for IDEMPOTENCY_TTL seconds (24 hours by default). The "
        "same key with another request: 422. While the first is still running: 409."
    ),
}
