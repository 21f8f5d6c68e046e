"""`make bench`: the service against FastAPI's floor (bench/floor.py: the same SQL behind plain
FastAPI routes), and against itself with its access log off; the reference app (bench/reference.py:
Starlette and raw asyncpg) beside them. Same database, same data, same load generator (wrk).

The targets are ratios of the same round: the service at 0.85x or more of the floor's requests/s,
its p99 latency at most 1.25x the floor's, and its access log costing 5% or less against
ACCESS_LOG=false.

Each round starts every app anew; per scenario and round, each app gets `--seconds` of wrk at
`--connections` connections; the order changes between rounds (`order_of`), so that a slower or
busier moment of the machine, or the work a run of writes leaves behind, does not always fall on
the same app. The figures kept are the medians over the rounds; the ratios compare figures of
the same round. Writes reports/bench.json and draws docs/images/bench.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from support import (
    BENCH_DATABASE,
    REPORTS,
    ROOT,
    ServerProcess,
    bench_app,
    bench_databases,
    ensure_wrk,
    order_of,
    reset_notes,
    wrk,
)
from support import service as start_service

from notes_api.config import Settings

# (wrk script in bench/wrk, label)
SCENARIOS: tuple[tuple[str, str], ...] = (
    ("get_note", "GET /notes/{id}"),
    ("list_notes", "GET /notes?take=20"),
    ("create_note", "POST /notes"),
    ("replace_note", "PUT /notes/{id}"),
)
APPS = ("service", "no_log", "floor", "reference")
NAMES = {
    "service": "the service",
    "no_log": "the service, ACCESS_LOG=false",
    "floor": "FastAPI's floor (bench/floor.py)",
    "reference": "reference (Starlette + asyncpg)",
}
OF_FLOOR = 0.85  # the service's requests/s, at least, of the floor's
P99_OF_FLOOR = 1.25  # the service's p99 latency, at most, of the floor's
LOG_COST = 0.05  # requests/s the access log may cost, at most
NOTES = 10_000
CHART = ROOT / "docs" / "images" / "bench.png"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=6, help="Per scenario, app and round.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--chart", type=Path, default=CHART)
    return parser.parse_args(argv)


def start_apps(url: str) -> dict[str, ServerProcess]:
    servers: dict[str, ServerProcess] = {}
    try:
        servers["service"] = start_service(url, REPORTS / "bench-service.log")
        servers["no_log"] = start_service(
            url, REPORTS / "bench-service-no-log.log", {"ACCESS_LOG": "false"}
        )
        servers["floor"] = bench_app("floor", url, REPORTS / "bench-floor.log")
        servers["reference"] = bench_app("reference", url, REPORTS / "bench-reference.log")
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def measure(arguments: argparse.Namespace, url: str) -> dict[str, Any]:
    wrk_path = ensure_wrk()
    REPORTS.mkdir(exist_ok=True)
    asyncio.run(reset_notes(url, NOTES))
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        scenario: {app: [] for app in APPS} for scenario, _ in SCENARIOS
    }
    for round_number in range(arguments.rounds):
        # New processes every round: two starts of the very same app, side by side, can differ
        # by 5% to 10% in requests/s for the whole of their lives (docs/performance.md), as much
        # as the costs measured here. So each app's median is over as many of its processes as
        # there are rounds, not over one.
        servers = start_apps(url)
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
                        f"round {round_number + 1}/{arguments.rounds}  {label:<20} {app:<9}"
                        f" {result['requests_per_s']:8.0f} req/s",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            for server in servers.values():
                server.stop()
    return runs


def summarise(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    rows = []
    for scenario, label in SCENARIOS:
        row: dict[str, Any] = {"scenario": label}
        for app in APPS:
            results = runs[scenario][app]
            row[app] = {
                key: statistics.median(r[key] for r in results)
                for key in ("requests_per_s", "p50_ms", "p99_ms")
            }
            row[app]["errors"] = sum(r["non_2xx"] + r["socket_errors"] for r in results)
        # Round by round, the apps ran next to each other in time: the ratio of a round is the
        # fairest comparison, and the median over rounds drops an unlucky one.
        of_floor = round_ratios(runs[scenario], "service", "floor", "requests_per_s")
        row["of_floor"] = statistics.median(of_floor)
        row["of_floor_by_round"] = of_floor
        row["p99_of_floor"] = statistics.median(
            round_ratios(runs[scenario], "service", "floor", "p99_ms")
        )
        log_cost = [
            1 - ratio
            for ratio in round_ratios(runs[scenario], "service", "no_log", "requests_per_s")
        ]
        row["log_cost"] = statistics.median(log_cost)
        row["log_cost_by_round"] = log_cost
        row["floor_of_reference"] = statistics.median(
            round_ratios(runs[scenario], "floor", "reference", "requests_per_s")
        )
        row["meets_targets"] = {
            "of_floor": row["of_floor"] >= OF_FLOOR,
            "p99_of_floor": row["p99_of_floor"] <= P99_OF_FLOOR,
            "log_cost": row["log_cost"] <= LOG_COST,
        }
        rows.append(row)
    return rows


def round_ratios(
    runs: dict[str, list[dict[str, Any]]], app: str, base: str, key: str
) -> list[float]:
    pairs = zip(runs[app], runs[base], strict=True)
    return [a[key] / b[key] for a, b in pairs]


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'scenario':<20} {'app':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for row in rows:
        for app in APPS:
            figures = row[app]
            print(
                f"{row['scenario'] if app == 'service' else '':<20} {app:<10}"
                f" {figures['requests_per_s']:8.0f} {figures['p50_ms']:8.1f}"
                f" {figures['p99_ms']:8.1f} {figures['errors']:7d}"
            )
        met = row["meets_targets"]
        # With each ratio, how far its rounds spread: a target closer to the median than that
        # is within what one run can tell (docs/performance.md, "What one run can tell").
        of_floor, log_cost = row["of_floor_by_round"], row["log_cost_by_round"]
        print(
            f"{'':<20} service {row['of_floor']:.2f}x of the floor (rounds {min(of_floor):.2f}"
            f" to {max(of_floor):.2f}; >= {OF_FLOOR}x {verdict(met['of_floor'])}),"
            f" p99 {row['p99_of_floor']:.2f}x the floor's"
            f" (<= {P99_OF_FLOOR}x {verdict(met['p99_of_floor'])}),\n{'':<20} access log"
            f" {row['log_cost']:+.1%} (rounds {min(log_cost):+.1%} to {max(log_cost):+.1%};"
            f" <= {LOG_COST:.0%} {verdict(met['log_cost'])}),"
            f" floor {row['floor_of_reference']:.2f}x of the reference"
        )


def verdict(met: bool) -> str:
    return "ok" if met else "MISSED"


def draw(rows: list[dict[str, Any]], path: Path, subtitle: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [row["scenario"] for row in rows]
    positions = range(len(rows))
    width = 0.2
    offsets = [(i - (len(APPS) - 1) / 2) * width for i in range(len(APPS))]
    figure, axes = plt.subplots(figsize=(9.5, 4.8), dpi=110)
    colours = {
        "service": "#4051b5",
        "no_log": "#7986cb",
        "floor": "#8c9eff",
        "reference": "#b0b0b0",
    }
    for offset, app in zip(offsets, APPS, strict=True):
        values = [row[app]["requests_per_s"] for row in rows]
        axes.bar(
            [p + offset for p in positions], values, width, label=NAMES[app], color=colours[app]
        )
    for position, row in zip(positions, rows, strict=True):
        axes.annotate(
            f"{row['of_floor']:.2f}x",
            (position + offsets[0], row["service"]["requests_per_s"]),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize=8,
            fontweight="bold",
        )
    axes.set_xticks(list(positions), labels)
    axes.set_ylabel("requests/s (median of rounds)")
    title = "notes-api against FastAPI's floor (bold: the service's ratio of the floor)"
    axes.set_title(f"{title}\n{subtitle}")
    axes.legend(fontsize=8, loc="lower left")
    axes.margins(y=0.15)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


async def run(arguments: argparse.Namespace) -> dict[str, Any]:
    async with bench_databases(Settings(), BENCH_DATABASE) as (url,):
        load_before = os.getloadavg()
        started = time.time()
        runs = await asyncio.to_thread(measure, arguments, url)
        return {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(time.time() - started),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_before": load_before,
                "load_after": os.getloadavg(),
            },
            "settings": {
                "connections": arguments.connections,
                "seconds": arguments.seconds,
                "rounds": arguments.rounds,
                "notes": 10_000,
            },
            "summary": summarise(runs),
            "runs": runs,
        }


def main(argv: list[str] | None = None) -> None:
    arguments = parse(sys.argv[1:] if argv is None else argv)
    report = asyncio.run(run(arguments))
    path = REPORTS / "bench.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report["summary"])
    subtitle = (
        f"{arguments.connections} connections, {arguments.rounds} rounds of "
        f"{arguments.seconds} s, {report['machine']['cpus']} CPUs, {report['started']}"
    )
    draw(report["summary"], arguments.chart, subtitle)
    print(f"Wrote {path.relative_to(ROOT)} and {arguments.chart}")


if __name__ == "__main__":
    main()
