"""The metrics brought up to date once a second, when /metrics is scraped and when the worker
stops, rather than on every request: the state the service keeps anyway (the requests in progress,
the database pools' connections open and idle and requests in line, the reads the replicas
served), and what was counted as plain numbers meanwhile (the requests answered, their latency,
each acquire's wait for a connection: tallies.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from notes_api.database import Database
from notes_api.database.replicas import ReadDatabase
from notes_api.observability import metrics
from notes_api.observability.tallies import Observations

SAMPLE_INTERVAL = 1.0  # seconds


class Watched:
    """The service as the sampled metrics see it: its requests, and its databases: `primary`, and
    `replicas` if any."""

    def __init__(self, served: metrics.Served, database: Database, read_database: Database) -> None:
        self.served = served
        self.pools = {"primary": database}
        self.replicas = read_database if isinstance(read_database, ReadDatabase) else None
        if self.replicas is not None:
            self.pools["replicas"] = self.replicas
        self._reads_counted = (0, 0)  # of the replicas' (replica_reads, fallback_reads)
        self._waits: list[Observations] = []

    def start(self) -> None:
        for name, database in self.pools.items():
            if database.pool is not None:
                waits = Observations(metrics.POOL_WAIT.labels(name), metrics.WAIT_BUCKETS)
                database.pool.on_wait = waits.observe
                self._waits.append(waits)

    def hand_over(self) -> None:
        """What was counted as plain numbers since the last time, to prometheus-client."""
        self.served.hand_over()
        for waits in self._waits:
            waits.hand_over()

    def sample(self) -> None:
        self.hand_over()
        metrics.IN_PROGRESS.set(self.served.in_progress)
        for name, database in self.pools.items():
            pool = database.pool
            if pool is None:
                continue
            size, idle = pool.size, pool.idle
            metrics.POOL_SIZE.labels(name).set(size)
            metrics.POOL_MAX_SIZE.labels(name).set(pool.max_size)
            metrics.POOL_IDLE.labels(name).set(idle)
            metrics.POOL_IN_USE.labels(name).set(size - idle)
            metrics.POOL_WAITING.labels(name).set(pool.waiting)
        if self.replicas is not None:
            replica, fallback = self.replicas.replica_reads, self.replicas.fallback_reads
            counted_replica, counted_fallback = self._reads_counted
            metrics.READS.labels("replica").inc(replica - counted_replica)
            metrics.READS.labels("primary_fallback").inc(fallback - counted_fallback)
            self._reads_counted = (replica, fallback)


@asynccontextmanager
async def watching(
    served: metrics.Served | None, database: Database, read_database: Database
) -> AsyncIterator[Watched | None]:
    """For the app's lifespan: the sampled metrics kept up to date while it serves; nothing
    without `served` (METRICS=false)."""
    if served is None:
        yield None
        return
    watched = Watched(served, database, read_database)
    watched.start()

    async def sample_every_interval() -> None:
        while True:
            watched.sample()
            await asyncio.sleep(SAMPLE_INTERVAL)

    sampler = asyncio.create_task(sample_every_interval())
    with metrics.worker_metrics():
        try:
            yield watched
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            watched.hand_over()  # the last requests' counts, while the worker's files are open
