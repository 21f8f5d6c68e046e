"""The service's metrics, in Prometheus' text format at /metrics (prometheus-client).

Requests by method, route template and status, their latency, those in progress; the database
pools (size, in use, idle, waiting in line, time waited); answers 503 by cause; reads served by
the replicas or, while none answers, by the primary; the version running. docs/observability.md
says what each means and how to query it.

The metrics are the process's, like the server they count: prometheus-client's way, which lets
the HTTP protocol (408, 431 and the concurrency limit's 503, answered before any app sees the
request) count what it answers too. With WORKERS > 1, src/main.py names a directory for
prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR) before the workers start: each
writes its values there, and whichever serves a scrape reads them all.

What happens on every request, its count and latency (`Served`) and the pool's wait, is kept as
plain numbers (tallies.py) and handed over in bulk (sampled.py says when).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from notes_api import __version__
from notes_api.observability.tallies import Observations

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# Any route that matched no template (a 404, say): one label, whatever the path.
UNMATCHED = "unmatched"
# What the protocol answers before a request reaches the app.
UNKNOWN_METHOD = "unknown"
# Seconds: from well under a cached read (~1 ms) to a request that waited out DB_POOL_TIMEOUT.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "http_requests",
    "Requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Seconds from a request's arrival in the app to the end of its answer",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
IN_PROGRESS = Gauge(
    "http_requests_in_progress",
    "Requests being served (sampled: once a second, and at each scrape)",
    multiprocess_mode="livesum",
)
UNAVAILABLE = Counter(
    "http_unavailable", "Answers 503, by cause (docs/observability.md lists them)", ["cause"]
)
POOL_SIZE = Gauge(
    "db_pool_size", "Connections open in the pool", ["database"], multiprocess_mode="livesum"
)
POOL_MAX_SIZE = Gauge(
    "db_pool_max_size", "Connections the pool may open", ["database"], multiprocess_mode="livesum"
)
POOL_IN_USE = Gauge(
    "db_pool_in_use", "Connections lent to a request", ["database"], multiprocess_mode="livesum"
)
POOL_IDLE = Gauge(
    "db_pool_idle", "Connections open and free", ["database"], multiprocess_mode="livesum"
)
POOL_WAITING = Gauge(
    "db_pool_waiting",
    "Requests waiting in line for a connection",
    ["database"],
    multiprocess_mode="livesum",
)
POOL_WAIT = Histogram(
    "db_pool_wait_seconds",
    "Seconds a request waited in line for a connection (0 when one was free)",
    ["database"],
    buckets=WAIT_BUCKETS,
)
READS = Counter(
    "db_reads",
    "Reads for the replicas (DATABASE_READ_URL), by who served them: replica or primary_fallback",
    ["served_by"],
)
BUILD = Gauge(
    "notes_api_build_info",
    "1, labelled with the version running and its Python",
    ["version", "python"],
    multiprocess_mode="max",
)
BUILD.labels(__version__, platform.python_version()).set(1)


# Methods a request may name; any other is counted as "other", so that a client inventing methods
# cannot make a series for each (serving/routing.py refuses them all with 405).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


class Served:
    """The app's requests, as serving/guards.py tells them: `in_progress`, a plain number kept
    on the event loop and read into its gauge by sampled.py (a gauge's inc and dec cost every
    request two locked updates); and each request answered, counted and timed here, as plain
    numbers too, until `hand_over` gives them to prometheus-client (tallies.py says why)."""

    __slots__ = ("_answered", "_timed", "in_progress")

    def __init__(self) -> None:
        self.in_progress = 0
        self._answered: dict[tuple[str, str, int], int] = {}  # since the last hand-over
        self._timed: dict[tuple[str, str], Observations] = {}

    def count(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request answered: its method, route template (or UNMATCHED), status, duration."""
        if method not in METHODS:
            method = "other"
        answered = self._answered
        key = (method, route, status)
        answered[key] = answered.get(key, 0) + 1
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[method, route] = Observations(
                LATENCY.labels(method, route), LATENCY_BUCKETS
            )
        timed.observe(seconds)

    def hand_over(self) -> None:
        """Add the requests answered since the last time to REQUESTS and LATENCY."""
        answered, self._answered = self._answered, {}
        for (method, route, status), count in answered.items():
            REQUESTS.labels(method, route, str(status)).inc(count)
        for timed in self._timed.values():
            timed.hand_over()


def scrape() -> tuple[bytes, str]:
    """The metrics as Prometheus' text format, and its Content-Type."""
    if MULTIPROCESS_DIRECTORY in os.environ:
        # Every worker's values, from the files they write (the process's own collectors,
        # CPU and memory, are left out: they would be only the scraped worker's).
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


@contextmanager
def worker_metrics() -> Iterator[None]:
    """For the life of a worker process: once it ends, the live gauges (in progress, the pools)
    forget its values, in multiprocess mode."""
    try:
        yield
    finally:
        if MULTIPROCESS_DIRECTORY in os.environ:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
