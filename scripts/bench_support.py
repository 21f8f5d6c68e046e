"""What `scripts/bench.py` and `scripts/bench_scale.py` share: a benchmark database, servers in
child processes, wrk, and the seed.

The benchmark never touches the service's own notes: it works in a database of its own,
`notes_bench`, on the server the service uses (DATABASE_URL, or the embedded PostgreSQL).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from notes_api.config import Settings
from notes_api.database_url import ConnectionTarget
from notes_api.embedded import database_or_embedded, ensure_database
from notes_api.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
WRK_SCRIPTS = ROOT / "bench" / "wrk"
BENCH_DATABASE = "notes_bench"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@asynccontextmanager
async def bench_databases(settings: Settings, *names: str) -> AsyncIterator[list[str]]:
    """The URLs of the benchmark's databases, created and migrated (the embedded server runs for
    as long as this is open, when DATABASE_URL is unset)."""
    async with database_or_embedded(settings) as server:
        urls = []
        for name in names:
            await ensure_database(server, name)
            url = with_database(server, name)
            await upgrade(ConnectionTarget.from_url(url))
            urls.append(url)
        yield urls


async def reset_notes(url: str, count: int) -> None:
    """Exactly `count` notes, ids 1 to `count`, with fresh planner statistics."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("TRUNCATE notes RESTART IDENTITY")
        await add_notes(connection, 1, count)
    finally:
        await connection.close()


async def add_notes(connection: asyncpg.Connection, first: int, count: int) -> None:
    batch = 100_000
    for start in range(first, first + count, batch):
        size = min(batch, first + count - start)
        records = [(f"Seeded note {i}", i % 3 == 0) for i in range(start, start + size)]
        await connection.copy_records_to_table(
            "notes", records=records, columns=["text", "completed"]
        )
    await connection.execute("VACUUM ANALYZE notes")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """An HTTP server in a child process, its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(cls, name: str, command: list[str], env: dict[str, str], log: Path) -> Server:
        port = int(env["PORT"])
        environment = {**os.environ, **env}
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        server = cls(name, process, port, log)
        server.wait_ready()
        return server

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/notes/1", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{self.name} not ready in {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def service(url: str, log: Path) -> Server:
    """The service as users run it: `python src/main.py`, default settings, one process."""
    env = {"DATABASE_URL": url, "PORT": str(free_port())}
    return Server.start("service", [sys.executable, "src/main.py"], env, log)


def reference(url: str, log: Path) -> Server:
    """bench/reference.py: Starlette, a raw asyncpg pool, orjson."""
    return bench_app("reference", url, log)


def floor(url: str, log: Path) -> Server:
    """bench/floor.py: the reference's database code behind FastAPI routes."""
    return bench_app("floor", url, log)


def bench_app(name: str, url: str, log: Path) -> Server:
    port = free_port()
    env = {"DATABASE_URL": url, "PORT": str(port)}
    command = [sys.executable, f"bench/{name}.py", "--port", str(port)]
    return Server.start(name, command, env, log)


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
