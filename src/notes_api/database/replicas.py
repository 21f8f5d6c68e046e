"""Reads from the read replicas (DATABASE_READ_URL), and from the primary while none answers.

A replica, a PostgreSQL streaming standby, takes reads off the primary. `ReadDatabase` is the
service's database on the replicas, and the read routes take it (`ReadDatabaseDep`). A read the
replicas cannot answer (none reachable, or the one serving it went away mid-statement) runs on the
primary instead, so that a replica's outage fails no request. From that first failure on, reads
go straight to the primary (logged once) while a background task asks the replicas again every
PROBE_INTERVAL seconds; once one answers, reads go back to them (logged).

A replica lags the primary: a note just written may not be on it yet. Writes answer the note as
stored, from the primary; a client that must read its own write at once asks for the primary
(`Read-From: primary`, notes_api/dependencies.py). docs/scaling.md has the measured lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from notes_api.database.core import Database
from notes_api.database.errors import DatabaseUnavailableError, StatementTimeoutError
from notes_api.database.url import ConnectionTarget

logger = logging.getLogger(__name__)

# Seconds between two attempts to reach the replicas while reads go to the primary.
PROBE_INTERVAL = 1.0


class ReadDatabase(Database):
    """A Database on the replicas whose reads fall back to `primary` when no replica answers.

    Its verbs fall back; `transaction()` and `connection()` stay on the replicas (a transaction
    cannot move to another server half-way).
    """

    def __init__(self, url: str | ConnectionTarget, *, primary: Database, **options: Any) -> None:
        super().__init__(url, **options)
        self.primary = primary
        # Running while the replicas are passed over: it ends once one answers again.
        self._probe: asyncio.Task[None] | None = None
        # Reads served so far (the verbs'), by a replica and by the primary instead: for metrics.
        self.replica_reads = 0
        self.fallback_reads = 0

    @property
    def replicas_answer(self) -> bool:
        return self._probe is None

    async def connect(self) -> None:
        await super().connect()
        # Its pool opens connections only as reads need them (min_size=0, see open_read_database),
        # so the service starts while no replica answers; say so now, not at the first read.
        try:
            await Database.fetch_val(self, "SELECT 1")
        except DatabaseUnavailableError as error:
            self._pass_over(error)

    async def disconnect(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
            self._probe = None
        await super().disconnect()

    async def fetch_one(self, query: Any, values: Any = None) -> Any:
        if self._probe is None:
            try:
                found = await super().fetch_one(query, values)
            except DatabaseUnavailableError as error:
                self._pass_over(error)
            else:
                self.replica_reads += 1
                return found
        self.fallback_reads += 1
        return await self.primary.fetch_one(query, values)

    async def fetch_all(self, query: Any, values: Any = None) -> Any:
        if self._probe is None:
            try:
                found = await super().fetch_all(query, values)
            except DatabaseUnavailableError as error:
                self._pass_over(error)
            else:
                self.replica_reads += 1
                return found
        self.fallback_reads += 1
        return await self.primary.fetch_all(query, values)

    async def fetch_val(self, query: Any, values: Any = None, column: Any = 0) -> Any:
        if self._probe is None:
            try:
                found = await super().fetch_val(query, values, column)
            except DatabaseUnavailableError as error:
                self._pass_over(error)
            else:
                self.replica_reads += 1
                return found
        self.fallback_reads += 1
        return await self.primary.fetch_val(query, values, column)

    async def iterate(
        self, query: Any, values: Any = None
    ) -> AsyncGenerator[Mapping[str, Any], None]:
        """Rows from the replicas, or from the primary if the replicas fail before the first row.
        After it, the rows already sent cannot be taken back: the failure is raised."""
        if self._probe is None:
            rows = super().iterate(query, values)
            try:
                first = await anext(rows)
            except StopAsyncIteration:
                self.replica_reads += 1
                return
            except DatabaseUnavailableError as error:
                self._pass_over(error)
            else:
                self.replica_reads += 1
                yield first
                async for row in rows:
                    yield row
                return
        self.fallback_reads += 1
        async for row in self.primary.iterate(query, values):
            yield row

    def _pass_over(self, error: DatabaseUnavailableError) -> None:
        """Send reads to the primary until a replica answers again."""
        if isinstance(error, StatementTimeoutError):
            raise error  # the statement's doing, not the replica's
        if self._probe is None:
            cause = error.__cause__ or error
            logger.warning("No read replica answers (%r): reading from the primary", cause)
            self._probe = asyncio.create_task(self._wait_for_a_replica())

    async def _wait_for_a_replica(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            try:
                await Database.fetch_val(self, "SELECT 1")
            except DatabaseUnavailableError:
                continue
            logger.info("A read replica answers again: reading from the replicas")
            self._probe = None
            return
