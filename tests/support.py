"""Helpers the tests share (and the benchmarks in bench/): SQL on a database, free ports, server
processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import requests
from prometheus_client import REGISTRY

from notes_api.database import Database
from notes_api.development.binaries import SYSTEM_USER
from notes_api.development.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


# Every table of the service's emptied: what a test that starts "with no notes" runs.
EMPTY_TABLES = "TRUNCATE notes, idempotency_keys RESTART IDENTITY"


def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one statement on `url` and return its rows."""

    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url)
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def on_database(url: str, scenario: Callable[[Database], Awaitable[T]], **options: Any) -> T:
    """Run `scenario(database)` with a `Database` of its own on `url` (no app), connected for it:
    `options` as `Database` takes them."""

    async def connected() -> T:
        async with Database(url, **{"min_size": 1} | options) as database:
            return await scenario(database)

    return asyncio.run(connected())


def metric_value(name: str, **labels: str) -> float:
    """A sample of this process's metrics (observability/metrics.py), 0 if it has none yet: they
    are the process's, so a test compares values before and after."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_until(what: str, probe: Callable[[], T], done: Callable[[T], bool], seconds: float) -> T:
    """Call `probe` until what it returns is `done`, and return that. Past `seconds`, fail saying
    what was awaited and what `probe` returned last."""
    deadline = time.monotonic() + seconds
    while True:
        seen = probe()
        if done(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds} s for {what}; the last look saw {seen!r}")
        time.sleep(0.05)


def seed(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`scripts/seed.py` (what `make seed` runs) on `database_url`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    environment["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "seed.py"), *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


def with_database(url: str, name: str) -> str:
    """The same server as `url`, database `name`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def reachable_dir() -> Iterator[Path]:
    """A temporary directory that unprivileged users (the embedded server's, PgBouncer's) can
    reach when the tests run as root.

    Not under pytest's own temporary root: pytest makes that 0700, and resets it whenever any
    session starts, which would lock a server out of its data in a concurrent session.
    """
    path = Path(tempfile.mkdtemp(prefix="notes-api-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def throwaway_cluster(bin_dir: Path | None = None) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL cluster of the test's own, on a free port: one it may stop, start, reconfigure.

    `bin_dir`: other PostgreSQL binaries than the embedded ones (see `system_postgres_bin`).
    """
    with reachable_dir() as root:
        cluster = EmbeddedPostgres(root=root / "pg", port=free_port(), bin_dir=bin_dir)
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()  # only if it still runs as this object started it


@contextlib.contextmanager
def standby_of(primary: EmbeddedPostgres) -> Iterator[EmbeddedPostgres]:
    """A streaming standby of the throwaway cluster `primary`, on a free port of loopback (its
    copy: the same users and passwords)."""
    bin_dir = primary.binaries()
    with reachable_dir() as root:
        standby = EmbeddedPostgres(root=root / "pg", port=free_port(), bin_dir=primary.bin_dir)
        standby.root.mkdir(parents=True)
        shutil.copy(primary.root / "password", standby.root / "password")
        run_as = SYSTEM_USER if os.geteuid() == 0 else None
        standby.pgdata.mkdir(mode=0o700)
        if run_as:
            shutil.chown(standby.pgdata, user=run_as, group=run_as)
        subprocess.run(
            [bin_dir / "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.running_port()),
             "-U", primary.user, "-D", str(standby.pgdata), "--write-recovery-conf",
             "--wal-method=stream", "--checkpoint=fast"],
            env={**os.environ, "PGPASSWORD": primary.password},
            user=run_as, cwd="/", check=True, capture_output=True,
        )  # fmt: skip
        standby.start()
        try:
            yield standby
        finally:
            standby.stop()


def system_postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries installed by Debian's packages, if any."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3])
    )
    return found[-1].parent if found else None


_HANDED_OUT: set[int] = set()  # by free_port, in this process


def free_port() -> int:
    """A port free on 127.0.0.1, and not handed out before by this process: two servers, each
    given a free port before either binds its own, must not be given the same one."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class ServerProcess:
    """An HTTP server in a child process, with the given environment on top of ours: the service
    (`python src/main.py`), or `command` (the benchmarks' other apps). It answers on PORT."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        command: list[str] | None = None,
        ready_path: str = "/ready",
    ) -> None:
        self.port = int(env["PORT"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.ready_path = ready_path
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
        environment.pop("DATABASE_URL", None)
        environment.update(env)
        self._log_file = log.open("ab")
        self.process = subprocess.Popen(
            command or [sys.executable, str(ROOT / "src" / "main.py")],
            cwd=ROOT,
            env=environment,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log.read_text()}")
            try:
                if requests.get(self.base + self.ready_path, timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready in {timeout}s:\n{self.log.read_text()}")

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, as a process manager would, and the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        finally:
            self._log_file.close()


def listening_addresses(port: int) -> set[str]:
    """The IPv4/IPv6 addresses with a socket listening on `port` (Linux /proc/net/tcp*)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


# 127.0.0.1 as /proc/net/tcp writes it.
LOOPBACK = "0100007F"


def connects_encrypted(url: str) -> bool:
    """Open the service's pool on `url`, as the service does, and ask whether it is encrypted."""

    async def ask(database: Database) -> bool:
        encrypted: bool = await database.fetch_val(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        )
        return encrypted

    return on_database(url, ask)


def assert_demo_curl_session(base: str) -> None:
    """Play the source demo's own session (its curl examples) on the service at `base`, its
    table empty, asserting each answer."""
    # curl -X POST /notes --data '{"text":"Test","completed":"false"}'
    created = requests.post(
        f"{base}/notes",
        data='{"text":"Test","completed":"false"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},  # what curl --data sends
        timeout=5,
    )
    assert created.status_code == 200
    note = created.json()
    assert (note["text"], note["completed"]) == ("Test", False)

    assert requests.get(f"{base}/notes", timeout=5).json() == [note]
    assert requests.get(f"{base}/notes/{note['id']}", timeout=5).json() == note

    updated = requests.put(
        f"{base}/notes/{note['id']}", json={"text": "Tested", "completed": True}, timeout=5
    ).json()
    assert (updated["text"], updated["completed"]) == ("Tested", True)

    deleted = requests.delete(f"{base}/notes/{note['id']}", timeout=5)
    assert deleted.status_code == 200
    assert deleted.json()["text"] == "Tested"
    again = requests.delete(f"{base}/notes/{note['id']}", timeout=5)
    assert again.status_code == 404
    assert requests.get(f"{base}/notes", timeout=5).json() == []
