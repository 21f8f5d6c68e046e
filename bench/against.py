"""`make bench-against REF=<commit>`: the service as it is here against the service at REF (a
commit, a branch, a tag), side by side: what a change cost or gave, in one run.

Both run as users run them (`python src/main.py`, one process, default settings), on the same
database, data and load generator as `make bench`, with this checkout's packages; REF's service
does not migrate (the database is at this checkout's head). Per scenario and round each gets
`--seconds` of wrk, in an order that alternates between rounds; each round starts both anew. The
figure kept is the median over rounds of this/REF, the ratio of one round (docs/performance.md,
"What one run can tell", says how far one run can be trusted).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

from support import (
    BENCH_DATABASE,
    REPORTS,
    ROOT,
    ServerProcess,
    bench_databases,
    checkout,
    ensure_wrk,
    order_of,
    reset_notes,
    wrk,
)
from support import service as start_service
from throughput import NOTES, SCENARIOS

from notes_api.config import Settings
from tests.support import free_port

APPS = ("here", "ref")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="The commit to compare with (git rev).")
    parser.add_argument("--seconds", type=int, default=6, help="Per scenario, app and round.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    return parser.parse_args(argv)


def start_apps(url: str, ref: Path) -> dict[str, ServerProcess]:
    here = start_service(url, REPORTS / "against-here.log")
    port = free_port()
    env = {"DATABASE_URL": url, "PORT": str(port), "MIGRATE_ON_START": "false"}
    command = [sys.executable, str(ref / "src" / "main.py")]
    other = ServerProcess(env, REPORTS / "against-ref.log", command=command)
    try:
        other.wait_ready()
    except BaseException:
        here.stop()
        other.stop()
        raise
    return {"here": here, "ref": other}


def measure(arguments: argparse.Namespace, url: str, ref: Path) -> dict[str, dict[str, list[Any]]]:
    wrk_path = ensure_wrk()
    REPORTS.mkdir(exist_ok=True)
    asyncio.run(reset_notes(url, NOTES))
    runs: dict[str, dict[str, list[Any]]] = {s: {a: [] for a in APPS} for s, _ in SCENARIOS}
    for round_number in range(arguments.rounds):
        servers = start_apps(url, ref)
        try:
            for server in servers.values():  # warm up: connections, prepared statements, caches
                for scenario, _ in SCENARIOS:
                    wrk(wrk_path, server.base, scenario, seconds=1, connections=8, ids=NOTES)
            for scenario, label in SCENARIOS:
                for app in order_of(APPS, round_number):
                    result = wrk(
                        wrk_path,
                        servers[app].base,
                        scenario,
                        seconds=arguments.seconds,
                        connections=arguments.connections,
                        ids=NOTES,
                    )
                    runs[scenario][app].append(result)
                    print(
                        f"round {round_number + 1}/{arguments.rounds}  {label:<20} {app:<5}"
                        f" {result['requests_per_s']:8.0f} req/s",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            for server in servers.values():
                server.stop()
    return runs


def report(runs: dict[str, dict[str, list[Any]]], ref: str) -> None:
    print(f"{'scenario':<20} {'here req/s':>10} {'ref req/s':>10} {'here/ref':>9}  rounds")
    for scenario, label in SCENARIOS:
        here, other = runs[scenario]["here"], runs[scenario]["ref"]
        ratios = [
            a["requests_per_s"] / b["requests_per_s"] for a, b in zip(here, other, strict=True)
        ]
        p99 = [a["p99_ms"] / b["p99_ms"] for a, b in zip(here, other, strict=True)]
        print(
            f"{label:<20} {statistics.median(r['requests_per_s'] for r in here):10.0f}"
            f" {statistics.median(r['requests_per_s'] for r in other):10.0f}"
            f" {statistics.median(ratios):8.3f}x  {min(ratios):.3f} to {max(ratios):.3f};"
            f" p99 {statistics.median(p99):.2f}x"
        )
    print(f"(here: {ROOT}; ref: {ref})")


async def run(arguments: argparse.Namespace) -> None:
    with checkout(arguments.ref) as ref:
        async with bench_databases(Settings(), BENCH_DATABASE) as (url,):
            runs = await asyncio.to_thread(measure, arguments, url, ref)
    report(runs, arguments.ref)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(run(parse(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
