"""What the benchmarks share: their own database, the servers they measure, wrk.

The benchmarks never touch the service's own notes: they work in databases of their own
(`notes_bench`...) on the server the service uses (DATABASE_URL, or the embedded PostgreSQL).
Servers, ports and the seed are the tests' and `make seed`'s own helpers (tests/support.py,
scripts/seed.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # for tests.support and seed, run as scripts

from seed import add_notes  # noqa: E402

from notes_api.config import Settings  # noqa: E402
from notes_api.database import ConnectionTarget  # noqa: E402
from notes_api.database.migrations import upgrade  # noqa: E402
from notes_api.development.database import database_or_embedded, ensure_database  # noqa: E402
from tests.support import ServerProcess as ServerProcess  # noqa: E402 (for the drivers)
from tests.support import free_port, with_database  # noqa: E402

REPORTS = ROOT / "reports"
WRK_SCRIPTS = ROOT / "bench" / "wrk"
BENCH_DATABASE = "notes_bench"


@asynccontextmanager
async def bench_databases(settings: Settings, *names: str) -> AsyncIterator[list[str]]:
    """The URLs of the benchmark's databases, created and migrated (the embedded server runs for
    as long as this is open, when DATABASE_URL is unset)."""
    # Starting and stopping the embedded server blocks for a while: in a thread, off the loop.
    running = database_or_embedded(settings)
    on_server = await asyncio.to_thread(running.__enter__)
    try:
        assert on_server.database_url is not None
        server = on_server.database_url.get_secret_value()
        urls = []
        for name in names:
            await ensure_database(server, name)
            url = with_database(server, name)
            await upgrade(ConnectionTarget.from_url(url))
            urls.append(url)
        yield urls
    finally:
        await asyncio.to_thread(running.__exit__, None, None, None)


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """REF's files, in a git worktree of their own for as long as the block runs."""
    with tempfile.TemporaryDirectory(prefix="notes-api-ref-") as scratch:
        path = Path(scratch) / "checkout"
        subprocess.run(
            ["git", "worktree", "add", "--quiet", "--detach", str(path), ref], cwd=ROOT, check=True
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False
            )


async def reset_notes(url: str, count: int) -> None:
    """Exactly `count` notes, ids 1 to `count`, with fresh planner statistics."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("TRUNCATE notes RESTART IDENTITY")
        await add_notes(connection, count, batch_size=100_000)
        await connection.execute("VACUUM notes")
    finally:
        await connection.close()


def service(url: str, log: Path, settings: dict[str, str] | None = None) -> ServerProcess:
    """The service as users run it: `python src/main.py`, default settings (but those given),
    one process."""
    env = {"DATABASE_URL": url, "PORT": str(free_port()), **(settings or {})}
    server = ServerProcess(env, log)
    server.wait_ready()
    return server


def bench_app(name: str, url: str, log: Path) -> ServerProcess:
    """bench/reference.py (Starlette, a raw asyncpg pool, orjson) or bench/floor.py (the
    reference's database code behind FastAPI routes)."""
    port = free_port()
    command = [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--port", str(port)]
    env = {"DATABASE_URL": url, "PORT": str(port)}
    server = ServerProcess(env, log, command=command, ready_path="/notes/1")
    server.wait_ready()
    return server


def order_of(apps: tuple[str, ...], round_number: int) -> tuple[str, ...]:
    """The order in which apps that take turns run in a round: reversed every other round, rotated
    in between. Rotation alone keeps each app behind the same one every round, and a run of writes
    leaves work to the run after it (WAL to flush, dead rows to vacuum): in `make bench` the
    service always came right after the reference, the fastest writer, and right before its
    no-log twin."""
    turn = (round_number // 2) % len(apps)
    order = apps[turn:] + apps[:turn]
    return order[::-1] if round_number % 2 else order


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian when missing and possible."""
    if found := shutil.which("wrk"):
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing it (apt-get install -y wrk)", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-q"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
        if found := shutil.which("wrk"):
            return found
    raise SystemExit(
        "error: the benchmark needs wrk, a compiled HTTP load generator: "
        "sudo apt-get install wrk (Debian/Ubuntu) or brew install wrk (macOS)"
    )


def wrk(
    wrk_path: str, base: str, scenario: str, *, seconds: int, connections: int, ids: int
) -> dict[str, Any]:
    """One wrk run; wrk's Lua `done` hook prints the figures as a JSON line, read here."""
    command = [
        wrk_path,
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(WRK_SCRIPTS / f"{scenario}.lua"),
        base,
    ]
    env = {**os.environ, "BENCH_LUA_DIR": str(WRK_SCRIPTS), "BENCH_IDS": str(ids)}
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    seconds_run = result["duration_us"] / 1e6
    return {
        "requests_per_s": result["requests"] / seconds_run,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "non_2xx": result["non_2xx"],
        "socket_errors": result["socket_errors"],
    }
