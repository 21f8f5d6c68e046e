"""`make bench-instructions`: the instructions each request costs the service, counted by valgrind.

bench/layers.py measures CPU time, which moves by 5 to 10% from one round to the next on a busy
machine: too much to see a 3% cost. Valgrind's callgrind counts instructions instead, whatever
else the machine does. Each variant runs in a process of its own under callgrind, as
bench/layers.py runs it (uvicorn's protocol fed kept-alive `GET /notes/{id}`, the access log
written, a real database), twice: warmed up (320 requests), and warmed up then --requests more.
The difference, divided by --requests, is what one request costs, start-up and warm-up left out.
About 50 times slower than without valgrind: a few minutes in all.

On one connection (the default) the count moves by under 0.1% from run to run; on 32
(--clients 32, as wrk in `make bench`) by up to 3%, as the event loop's turns, and how many
requests each serves, follow the database's answers.

The variants: the service, with its metrics and without (METRICS=false), FastAPI's floor, and the
service as it was at --before (by default the commit before request IDs and metrics came),
checked out in a temporary git worktree and run by this checkout's bench/ scripts: what the
service's observability costs is its growth since then.

    python bench/instructions.py [--requests 1280] [--path '/notes/{id}'] [--clients 1]
                                 [--before fcf9328]

Needs valgrind (apt-get install valgrind), and git for --before.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import uvloop
from layers import cpu_per_request, log_as_the_service, variants
from support import BENCH_DATABASE, ROOT, bench_databases, checkout, reset_notes

from notes_api.config import Settings

NOTES = 10_000
WARM = 320
SERVICE = "service"
VARIANTS = (SERVICE, "service, METRICS=false", "floor (bench/floor.py)")
# The commit before request IDs, metrics and tracing (issue 25).
BEFORE = "fcf9328"
COLLECTED = re.compile(r"Collected : (\d+)")


async def serve(variant: str, url: str, requests: int, path: str, clients: int) -> None:
    """In the child: warm up, then `requests` more (none when 0)."""
    build, access_log = variants(url)[variant]
    app = build()
    async with app.router.lifespan_context(app) as state:
        await cpu_per_request(app, dict(state or {}), access_log, WARM, path, clients)
        if requests:
            await cpu_per_request(app, dict(state or {}), access_log, requests, path, clients)


def child(arguments: argparse.Namespace) -> None:
    log_as_the_service()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(
            serve(
                arguments.variant,
                arguments.url,
                arguments.requests,
                arguments.path,
                arguments.clients,
            )
        )


def counted(
    variant: str, url: str, requests: int, path: str, clients: int, root: Path = ROOT
) -> int:
    """Instructions the child ran, in all: `variant` of the service whose checkout is `root`."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(root / "bench" / "instructions.py"),
        "--child",
        variant,
        "--url",
        url,
        "--requests",
        str(requests),
        "--path",
        path,
        "--clients",
        str(clients),
    ]
    environment = os.environ | {
        "PYTHONHASHSEED": "0",
        "PYTHONPATH": str(root / "src"),  # that checkout's package, not the one installed
        "MIGRATE_ON_START": "false",  # bench_databases migrated the database, to this checkout's
    }
    result = subprocess.run(
        command, cwd=root, env=environment, capture_output=True, text=True, check=False
    )
    found = COLLECTED.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"{variant}: {result.stderr[-2000:]}")
    return int(found[1])


async def per_request(
    variant: str, url: str, arguments: argparse.Namespace, root: Path = ROOT
) -> float:
    """Instructions per request of `variant`, of the service whose checkout is `root`."""
    requests: int = arguments.requests
    warm, more = await asyncio.gather(
        asyncio.to_thread(counted, variant, url, 0, arguments.path, arguments.clients, root),
        asyncio.to_thread(
            counted, variant, url, arguments.requests, arguments.path, arguments.clients, root
        ),
    )
    return (more - warm) / requests


async def run(arguments: argparse.Namespace) -> dict[str, float]:
    figures = {}
    async with bench_databases(Settings(), BENCH_DATABASE) as (url,):
        await reset_notes(url, NOTES)
        for variant in VARIANTS:
            figures[variant] = await per_request(variant, url, arguments)
            print(f"  {variant:34} {figures[variant]:11,.0f}", file=sys.stderr, flush=True)
        before = f"service at {arguments.before}"
        with checkout(arguments.before) as root:
            # Run by this checkout's scripts, which that one may not have.
            shutil.copytree(ROOT / "bench", root / "bench", dirs_exist_ok=True)
            figures[before] = await per_request(SERVICE, url, arguments, root)
        print(f"  {before:34} {figures[before]:11,.0f}", file=sys.stderr, flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1280, help="A multiple of --clients.")
    parser.add_argument("--path", default="/notes/{id}", help="Or /notes?take=20, say.")
    parser.add_argument("--clients", type=int, default=1, help="Connections at once.")
    parser.add_argument("--before", default=BEFORE, help="The commit to compare the service with.")
    parser.add_argument("--child", dest="variant", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.variant is not None:
        child(arguments)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("error: needs valgrind: apt-get install valgrind")
    figures = asyncio.run(run(arguments))
    base = figures[f"service at {arguments.before}"]
    print(
        f"Instructions per GET {arguments.path}, {arguments.requests} requests, "
        f"{arguments.clients} clients:"
    )
    for variant, figure in figures.items():
        growth = figure / base - 1
        print(f"  {variant:34} {figure:11,.0f}  ({growth:+.1%} on the service at --before)")


if __name__ == "__main__":
    main()
