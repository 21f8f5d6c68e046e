"""The idempotency_keys table: each key with its request's fingerprint and the answer it got.

A keyed write and its key are stored in one transaction (once.py), so they commit or roll back
together, across a failover too. While a write runs, its key is held with a transaction-level
advisory lock, taken without waiting: a repeat that finds it held is told so (409) rather than
queued; a transaction left waiting by an instance that vanished is ended by PostgreSQL within
HELD_IDLE_AT_MOST, which frees its key. Keys are kept IDEMPOTENCY_TTL seconds; an expired key is
ignored at once and removed later, a batch at a time, by `removing_expired`, which skips rows in
use and never blocks a write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    LargeBinary,
    SmallInteger,
    Table,
    Text,
    bindparam,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import insert

from notes_api.database import Database, DatabaseError, Statement, metadata

logger = logging.getLogger(__name__)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", Text, primary_key=True),
    # sha256 of what identifies the request (once.py): a repeat must match it.
    Column("fingerprint", LargeBinary, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column(
        "created_at", DateTime(timezone=True), nullable=False, server_default=func.now(), index=True
    ),
)

# The advisory locks' key space (their first int4): "keys", apart from the migrations' lock.
LOCK_SPACE = 0x6B657973
# Expired keys removed per statement, and seconds between rounds.
REMOVE_BATCH = 1_000
REMOVE_EVERY = 60.0

_ttl = bindparam("ttl", type_=Float)
_unexpired = idempotency_keys.c.created_at > func.now() - _ttl * literal_column(
    "interval '1 second'"
)

# While the key's lock is held, PostgreSQL ends the session if it waits longer than this for the
# next statement: an instance cut off in the middle of a keyed write (a partition, a crash) would
# otherwise hold the key, and answer its client's retries through other instances with 409, until
# the server noticed the connection was gone (minutes, with TCP's defaults). The transaction's own
# statements follow each other within milliseconds.
HELD_IDLE_AT_MOST = "2s"

# The key's lock, taken without waiting ("locked": false if another transaction holds it), and
# the bound above, for this transaction only: one round trip.
TAKE_LOCK = Statement(
    select(
        func.set_config(
            literal_column("'idle_in_transaction_session_timeout'"),
            literal_column(f"'{HELD_IDLE_AT_MOST}'"),
            literal_column("true"),
        ).label("bounded"),
        func.pg_try_advisory_xact_lock(
            literal_column(str(LOCK_SPACE)), func.hashtext(bindparam("key", type_=Text))
        ).label("locked"),
    )
)
FIND = Statement(
    select(
        idempotency_keys.c.fingerprint,
        idempotency_keys.c.status,
        idempotency_keys.c.headers,
        idempotency_keys.c.body,
    ).where(idempotency_keys.c.key == bindparam("key"), _unexpired)
)
_remember = insert(idempotency_keys).values(
    key=bindparam("key"),
    fingerprint=bindparam("fingerprint"),
    status=bindparam("status"),
    headers=bindparam("headers"),
    body=bindparam("body"),
)
# An expired key not removed yet is taken over.
REMEMBER = Statement(
    _remember.on_conflict_do_update(
        index_elements=[idempotency_keys.c.key],
        set_={
            name: _remember.excluded[name]
            for name in ("fingerprint", "status", "headers", "body", "created_at")
        },
    )
)
_expired = (
    select(idempotency_keys.c.key)
    .where(~_unexpired)
    .order_by(idempotency_keys.c.created_at)
    .limit(REMOVE_BATCH)
    .with_for_update(skip_locked=True)
)
REMOVE_EXPIRED = Statement(
    idempotency_keys.delete()
    .where(idempotency_keys.c.key.in_(_expired.scalar_subquery()))
    .returning(idempotency_keys.c.key)
)


async def remove_expired(database: Database, *, ttl: float) -> int:
    """Remove the keys older than `ttl` seconds, a batch at a time; answer how many."""
    removed = 0
    while True:
        batch = await database.fetch_all(REMOVE_EXPIRED, values={"ttl": ttl})
        removed += len(batch)
        if len(batch) < REMOVE_BATCH:
            return removed


@asynccontextmanager
async def removing_expired(
    database: Database, *, ttl: float, every: float = REMOVE_EVERY
) -> AsyncIterator[None]:
    """While inside, remove expired keys every `every` seconds, in a task of its own. A database
    that cannot be reached is tried again next round."""

    async def run() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                removed = await remove_expired(database, ttl=ttl)
            except DatabaseError as error:
                logger.warning("Could not remove expired idempotency keys: %r", error.__cause__)
            else:
                if removed:
                    logger.info("Removed %d expired idempotency keys", removed)

    task = asyncio.create_task(run(), name="remove expired idempotency keys")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
