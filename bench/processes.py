"""CPU per request of several processes of the service, with and without its access log, under wrk.

    python bench/processes.py [--scenario get_note] [--copies 2] [--turns 6] [--seconds 5]

Starts `--copies` processes of the service as users run it and as many with ACCESS_LOG=false, and
gives each, in rotating turns, `--seconds` of wrk (32 connections). For each process it prints its
requests/s and the CPU it used per request (its threads' user and system time, from /proc: Linux
only), medians over its turns, and how much of it the event loop's thread used (the rest is the
log writer's thread, mostly). Two processes of one build differ (docs/performance.md, "Why new
processes every round"); so does the access log's cost from one pair to the next, which is why
this runs several.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from support import (
    BENCH_DATABASE,
    REPORTS,
    ServerProcess,
    bench_databases,
    ensure_wrk,
    order_of,
    reset_notes,
    wrk,
)
from support import service as start_service

from notes_api.config import Settings

NOTES = 10_000
TICKS = os.sysconf("SC_CLK_TCK") if sys.platform == "linux" else 100  # /proc's unit of CPU time


def thread_cpu(pid: int) -> dict[str, float]:
    """Seconds of CPU (user + system) `pid` has used in its main thread, which runs the event
    loop, and in its other threads (the log writer's, mostly)."""
    used: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        thread = "event loop" if task.name == str(pid) else "other threads"
        used[thread] += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return used


def measure(arguments: argparse.Namespace, url: str) -> None:
    wrk_path = ensure_wrk()
    REPORTS.mkdir(exist_ok=True)
    asyncio.run(reset_notes(url, NOTES))
    servers: dict[str, ServerProcess] = {}
    try:
        for copy in range(1, arguments.copies + 1):
            servers[f"log {copy}"] = start_service(url, REPORTS / f"processes-log-{copy}.log")
            servers[f"no log {copy}"] = start_service(
                url, REPORTS / f"processes-no-log-{copy}.log", {"ACCESS_LOG": "false"}
            )
        for server in servers.values():  # warm up: connections, prepared statements, caches
            wrk(wrk_path, server.base, arguments.scenario, seconds=1, connections=8, ids=NOTES)
        names = tuple(servers)
        turns: dict[str, list[tuple[float, dict[str, float]]]] = defaultdict(list)
        for turn in range(arguments.turns):
            for name in order_of(names, turn):
                pid = servers[name].process.pid
                before = thread_cpu(pid)
                result = wrk(
                    wrk_path,
                    servers[name].base,
                    arguments.scenario,
                    seconds=arguments.seconds,
                    connections=32,
                    ids=NOTES,
                )
                after = thread_cpu(pid)
                requests = result["requests_per_s"] * arguments.seconds
                per_request = {t: (after[t] - before.get(t, 0.0)) / requests * 1e6 for t in after}
                turns[name].append((result["requests_per_s"], per_request))
    finally:
        for server in servers.values():
            server.stop()

    print(f"{arguments.scenario}, {arguments.turns} turns of {arguments.seconds} s each (medians)")
    for name in names:
        rates = [rate for rate, _ in turns[name]]
        cpu = [sum(threads.values()) for _, threads in turns[name]]
        loop = [threads.get("event loop", 0.0) for _, threads in turns[name]]
        others = [threads.get("other threads", 0.0) for _, threads in turns[name]]
        print(
            f"{name:<10} {statistics.median(rates):6.0f} req/s"
            f"  {statistics.median(cpu):6.1f} µs CPU per request"
            f"  (event loop {statistics.median(loop):.1f},"
            f" other threads {statistics.median(others):.1f})"
        )


async def run(arguments: argparse.Namespace) -> None:
    async with bench_databases(Settings(), BENCH_DATABASE) as (url,):
        await asyncio.to_thread(measure, arguments, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="get_note", help="a wrk script of bench/wrk/")
    parser.add_argument("--copies", type=int, default=2, help="processes with, and without, log")
    parser.add_argument("--turns", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=5)
    arguments = parser.parse_args()
    if not Path("/proc/self/task").is_dir():
        raise SystemExit("error: this reads each thread's CPU time from /proc (Linux only)")
    asyncio.run(run(arguments))


if __name__ == "__main__":
    main()
