"""The metrics that are state the service keeps anyway, read once a second and when /metrics is
scraped rather than counted on every request: the requests in progress (metrics.Served), the
database pools (connections open and idle, requests in line) and the reads the replicas served.

Each acquire's wait goes into its histogram as it happens (`Pool.on_wait`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from notes_api.database import Database
from notes_api.database.replicas import ReadDatabase
from notes_api.observability import metrics

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

    def start(self) -> None:
        for name, database in self.pools.items():
            if database.pool is not None:
                database.pool.on_wait = metrics.POOL_WAIT.labels(name).observe

    def sample(self) -> None:
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
    try:
        with metrics.worker_metrics():
            yield watched
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
