"""`make bench-instructions`: the instructions each request costs the service, counted by valgrind.

bench/layers.py measures CPU time, which moves by 5 to 10% from one round to the next on a busy
machine: too much to see a 3% cost. Valgrind's callgrind counts instructions instead, whatever
else the machine does; the count still moves by about 1.5% from run to run, as the event loop's
turns follow the database's answers. Each variant of the service runs in a process of its own
under callgrind, as bench/layers.py runs it (uvicorn's protocol fed kept-alive `GET /notes/{id}`
on 32 connections, the access log written, a real database), twice: warmed up (320 requests),
and warmed up then --requests more. The difference, divided by --requests, is what one
request costs, start-up and warm-up left out. About 50 times slower than without valgrind: a
few minutes in all.

    python bench/instructions.py [--requests 1280] [--path '/notes/{id}']

Needs valgrind (apt-get install valgrind).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys

import uvloop
from layers import cpu_per_request, log_as_the_service, variants
from support import BENCH_DATABASE, bench_databases, reset_notes

from notes_api.config import Settings

NOTES = 10_000
WARM = 320
VARIANTS = (
    "service",
    "service, METRICS=false",
    "service without Observe",
    "floor (bench/floor.py)",
)
COLLECTED = re.compile(r"Collected : (\d+)")


async def serve(variant: str, url: str, requests: int, path: str) -> None:
    """In the child: warm up, then `requests` more (none when 0)."""
    build, access_log = variants(url)[variant]
    app = build()
    async with app.router.lifespan_context(app) as state:
        await cpu_per_request(app, dict(state or {}), access_log, WARM, path, 32)
        if requests:
            await cpu_per_request(app, dict(state or {}), access_log, requests, path, 32)


def child(arguments: argparse.Namespace) -> None:
    log_as_the_service()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(arguments.variant, arguments.url, arguments.requests, arguments.path))


def counted(variant: str, url: str, requests: int, path: str) -> int:
    """Instructions the child ran, in all."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        variant,
        "--url",
        url,
        "--requests",
        str(requests),
        "--path",
        path,
    ]
    environment = os.environ | {"PYTHONHASHSEED": "0"}
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    found = COLLECTED.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"{variant}: {result.stderr[-2000:]}")
    return int(found[1])


async def run(arguments: argparse.Namespace) -> dict[str, float]:
    async with bench_databases(Settings(), BENCH_DATABASE) as (url,):
        await reset_notes(url, NOTES)
        per_request = {}
        for variant in VARIANTS:
            warm, more = await asyncio.gather(
                asyncio.to_thread(counted, variant, url, 0, arguments.path),
                asyncio.to_thread(counted, variant, url, arguments.requests, arguments.path),
            )
            per_request[variant] = (more - warm) / arguments.requests
            print(f"  {variant:26} {per_request[variant]:11,.0f}", file=sys.stderr, flush=True)
        return per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1280, help="A multiple of 32.")
    parser.add_argument("--path", default="/notes/{id}", help="Or /notes?take=20, say.")
    parser.add_argument("--child", dest="variant", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.variant is not None:
        child(arguments)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("error: needs valgrind: apt-get install valgrind")
    figures = asyncio.run(run(arguments))
    base = figures["service without Observe"]
    print(f"Instructions per GET {arguments.path}, {arguments.requests} requests, 32 clients:")
    for variant, figure in figures.items():
        growth = figure / base - 1
        print(f"  {variant:26} {figure:11,.0f}  ({growth:+.1%} on the service without Observe)")


if __name__ == "__main__":
    main()
