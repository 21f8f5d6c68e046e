"""`make bench-scale`: costs that must stay flat as the table grows.

1. A page through the cursor (`GET /notes?after=<id>&take=20`, random cursors) at 1,000 notes and
   at 1,000,000: median time per page, and the plan PostgreSQL uses (an index scan of the primary
   key, whatever the depth). Target: the 1M figure within 1.5x of the 1k one.
2. `GET /notes/all` over 1,000,000 notes: the server's peak resident memory above what it held
   before the export, sampled every 10 ms from /proc. Target: under 100 MB.
3. A search at 1,000,000 notes (`GET /notes?q=...&take=20`, each note "Seeded note <i>: " and
   three words, scripts/seed.py): a rare word (one note's number: the GIN index) median <= 20 ms,
   a common one ("note", in every note: the first page) median <= 50 ms; and the server's memory
   across them, flat.

Works in the benchmark's own database (see support.py) and writes reports/bench-scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
from support import BENCH_DATABASE, REPORTS, bench_databases, reset_notes, service

from notes_api.config import Settings
from notes_api.notes.service import PAGES

SMALL = 1_000
LARGE = 1_000_000
PAGE_RATIO_TARGET = 1.5
RSS_TARGET_MB = 100
RARE_TARGET_MS, COMMON_TARGET_MS = 20, 50
ROUNDS = 5


def page_times(port: int, notes: int, requests: int) -> list[float]:
    """Seconds per page, one request at a time on a kept-alive connection, random cursors."""
    dice = random.Random(5)
    connection = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    try:
        for i in range(requests + 20):
            after = dice.randrange(0, notes - 20)
            started = time.perf_counter()
            connection.request("GET", f"/notes?after={after}&take=20")
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200 or body.count(b'"id":') != 20:
                raise SystemExit(f"unexpected page: {response.status} {body[:200]!r}")
            if i >= 20:  # the first ones warm up the connection and the plan cache
                times.append(elapsed)
    finally:
        connection.close()
    return times


def search_times(port: int, queries: list[str], expected: int) -> list[float]:
    """Seconds per search page (take=20), one request at a time on a kept-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    try:
        for i, q in enumerate(queries):
            started = time.perf_counter()
            connection.request("GET", f"/notes?q={q}&take=20")
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200 or body.count(b'"id":') != expected:
                raise SystemExit(f"unexpected search: {response.status} {body[:200]!r}")
            if i >= 20:  # warming up, as page_times
                times.append(elapsed)
    finally:
        connection.close()
    return times


def searches(port: int, pid: int, requests: int) -> dict[str, Any]:
    """Rare and common words in turns; the server's resident memory before and after."""
    dice = random.Random(7)
    rare: list[float] = []
    common: list[float] = []
    rss_before = rss_bytes(pid)
    for _ in range(ROUNDS):
        numbers = [str(dice.randrange(1, LARGE + 1)) for _ in range(requests // ROUNDS + 20)]
        rare += search_times(port, numbers, expected=1)
        common += search_times(port, ["note"] * (requests // ROUNDS + 20), expected=20)
    return {
        "rare_ms": statistics.median(rare) * 1000,
        "rare_p99_ms": statistics.quantiles(rare, n=100)[98] * 1000,
        "common_ms": statistics.median(common) * 1000,
        "common_p99_ms": statistics.quantiles(common, n=100)[98] * 1000,
        "requests": len(rare),
        "rss_before_mb": rss_before / 1e6,
        "rss_after_mb": rss_bytes(pid) / 1e6,
    }


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def export(port: int, pid: int) -> dict[str, Any]:
    """Stream GET /notes/all, count its notes, and sample the server's memory meanwhile."""
    baseline = rss_bytes(pid)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    notes = size = 0
    tail = b""
    try:
        connection.request("GET", "/notes/all")
        response = connection.getresponse()
        while chunk := response.read(256 * 1024):
            size += len(chunk)
            # Count objects across chunk boundaries: keep the last few bytes with the next chunk.
            window = tail + chunk
            notes += window.count(b'{"id":') - tail.count(b'{"id":')
            tail = window[-8:]
    finally:
        connection.close()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return {
        "notes": notes,
        "megabytes": size / 1e6,
        "seconds": seconds,
        "rss_before_mb": baseline / 1e6,
        "rss_peak_mb": peak / 1e6,
        "rss_growth_mb": (peak - baseline) / 1e6,
    }


async def plan(url: str) -> list[str]:
    """PostgreSQL's plan for the service's cursor page statement, in the middle of the table."""
    connection = await asyncpg.connect(url)
    try:
        query = PAGES[True, False]  # with a cursor, no filter
        values = {"after": LARGE // 2, "skip": 0, "take": 20}
        rows = await connection.fetch(
            f"EXPLAIN (ANALYZE, COSTS OFF) {query.sql}", *query.arguments(values)
        )
        return [row[0] for row in rows]
    finally:
        await connection.close()


def measure(small_url: str, large_url: str, requests: int) -> dict[str, Any]:
    asyncio.run(reset_notes(small_url, SMALL))
    print(f"Loading {LARGE:,} notes (COPY)...", file=sys.stderr, flush=True)
    asyncio.run(reset_notes(large_url, LARGE))
    small_server = service(small_url, REPORTS / "bench-scale-service-1k.log")
    large_server = service(large_url, REPORTS / "bench-scale-service-1m.log")
    small: list[float] = []
    large: list[float] = []
    try:
        # Taking turns, a few hundred pages at a time: a busy moment of the machine falls on both.
        for _ in range(ROUNDS):
            small += page_times(small_server.port, SMALL, requests // ROUNDS)
            large += page_times(large_server.port, LARGE, requests // ROUNDS)
        small_server.stop()
        searched = searches(large_server.port, large_server.process.pid, requests)
        exported = export(large_server.port, large_server.process.pid)
    finally:
        small_server.stop()
        large_server.stop()
    return {
        "page_ms": {
            "notes_1k": statistics.median(small) * 1000,
            "notes_1m": statistics.median(large) * 1000,
            "notes_1k_p99": statistics.quantiles(small, n=100)[98] * 1000,
            "notes_1m_p99": statistics.quantiles(large, n=100)[98] * 1000,
            "requests": len(small),
        },
        "plan_at_1m": asyncio.run(plan(large_url)),
        "search_1m": searched,
        "export_1m": exported,
    }


async def run(requests: int) -> dict[str, Any]:
    names = (f"{BENCH_DATABASE}_1k", f"{BENCH_DATABASE}_1m")
    async with bench_databases(Settings(), *names) as (small_url, large_url):
        return await asyncio.to_thread(measure, small_url, large_url, requests)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="Pages timed per table size.")
    arguments = parser.parse_args(sys.argv[1:] if argv is None else argv)
    REPORTS.mkdir(exist_ok=True)
    report = asyncio.run(run(arguments.requests))
    (REPORTS / "bench-scale.json").write_text(json.dumps(report, indent=2) + "\n")

    page = report["page_ms"]
    ratio = page["notes_1m"] / page["notes_1k"]
    verdict = "ok" if ratio <= PAGE_RATIO_TARGET else "ABOVE TARGET"
    print(f"Cursor page (take=20), median of {page['requests']} pages, one client:")
    print(f"  1,000 notes:      {page['notes_1k']:.2f} ms (p99 {page['notes_1k_p99']:.2f} ms)")
    print(f"  1,000,000 notes:  {page['notes_1m']:.2f} ms (p99 {page['notes_1m_p99']:.2f} ms)")
    print(f"  ratio:            {ratio:.2f}x (target <= {PAGE_RATIO_TARGET}x) {verdict}")
    print("  plan at 1M:       " + "\n                    ".join(report["plan_at_1m"]))
    searched = report["search_1m"]
    print(f"Search (take=20), 1,000,000 notes, median of {searched['requests']} each, one client:")
    for name, target in (("rare", RARE_TARGET_MS), ("common", COMMON_TARGET_MS)):
        median = searched[f"{name}_ms"]
        verdict = "ok" if median <= target else "ABOVE TARGET"
        print(
            f"  a {name} word:{' ' * (8 - len(name))}{median:.2f} ms"
            f" (p99 {searched[f'{name}_p99_ms']:.2f} ms, target <= {target} ms) {verdict}"
        )
    print(
        f"  server RSS: {searched['rss_before_mb']:.0f} MB before,"
        f" {searched['rss_after_mb']:.0f} MB after"
    )
    exported = report["export_1m"]
    growth = exported["rss_growth_mb"]
    verdict = "ok" if growth < RSS_TARGET_MB else "ABOVE TARGET"
    print(
        f"Export GET /notes/all: {exported['notes']:,} notes, {exported['megabytes']:.0f} MB"
        f" in {exported['seconds']:.1f} s"
    )
    print(
        f"  server RSS: {exported['rss_before_mb']:.0f} MB before, peak"
        f" {exported['rss_peak_mb']:.0f} MB: growth {growth:.1f} MB"
        f" (target < {RSS_TARGET_MB} MB) {verdict}"
    )
    if exported["notes"] != LARGE:
        raise SystemExit(f"error: the export held {exported['notes']:,} notes, not {LARGE:,}")


if __name__ == "__main__":
    main()
