"""More than one of everything: server processes sharing a port, a pooler between the service and
PostgreSQL, hundreds of clients at once. The e2e demo session must pass in each setup."""

from __future__ import annotations

import asyncio
import os
import pwd
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx  # starlette's TestClient needs httpx2; its API is httpx's
import pytest

from tests.support import ServerProcess, assert_demo_curl_session, free_port, reachable_dir, sql

pytestmark = pytest.mark.e2e


def worker_pids(parent: int) -> set[int]:
    """The server processes uvicorn spawned under `parent` (its multiprocessing children)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return {
        int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    }


def test_demo_session_passes_with_two_workers(notes_url: str, tmp_path: Path) -> None:
    server = ServerProcess(
        {"DATABASE_URL": notes_url, "PORT": str(free_port()), "WORKERS": "2"},
        tmp_path / "server.log",
    )
    try:
        server.wait_ready()
        workers = worker_pids(server.process.pid)
        assert_demo_curl_session(server.base)
    finally:
        assert server.stop() == 0

    assert len(workers) == 2
    log = server.log.read_text()
    assert log.count("Application startup complete.") == 2


def test_two_workers_share_one_embedded_database(embedded_dir: Path, tmp_dir: Path) -> None:
    env = {
        "EMBEDDED_DB_DIR": str(embedded_dir),
        "EMBEDDED_DB_PORT": str(free_port()),
        "PORT": str(free_port()),
        "WORKERS": "2",
    }
    server = ServerProcess(env, tmp_dir / "server.log")
    try:
        server.wait_ready()
        assert len(worker_pids(server.process.pid)) == 2
        assert_demo_curl_session(server.base)
    finally:
        assert server.stop() == 0

    log = server.log.read_text()
    # Started once, by the parent, and stopped with it.
    assert log.count("Starting embedded PostgreSQL") == 1
    assert not (embedded_dir / "pgdata" / "postmaster.pid").exists()


# --- PgBouncer --------------------------------------------------------------------------------


def run_as_when_root() -> str | None:
    """The user PgBouncer runs as when the tests run as root, which it refuses: `postgres`.
    None when they do not; the test is skipped when there is no such user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        pytest.skip("PgBouncer will not run as root, and there is no `postgres` user to run as")


class PgBouncer:
    """PgBouncer in transaction pooling mode in front of the server behind `url`."""

    def __init__(self, url: str, directory: Path) -> None:
        executable = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(executable).exists():
            pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
        run_as = run_as_when_root()
        parts = urlsplit(url)
        self.port = free_port()
        self.database = parts.path.lstrip("/")
        self.user = parts.username or "postgres"
        target = (
            f"host={parts.hostname} port={parts.port or 5432} dbname={self.database} "
            f"user={self.user}" + (f" password={parts.password}" if parts.password else "")
        )
        directory.mkdir(mode=0o700)
        config = directory / "pgbouncer.ini"
        config.write_text(
            f"[databases]\n{self.database} = {target}\n\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            # The service's clients trust the pooler here; the pooler logs in to PostgreSQL.
            f"auth_type = trust\nauth_file = {directory / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            # Fewer server connections than the service's pool: transactions from different
            # client connections take turns on the same server connection.
            "default_pool_size = 2\nmax_client_conn = 200\n"
            f"logfile = {directory / 'pgbouncer.log'}\n"
        )
        (directory / "userlist.txt").write_text(f'"{self.user}" ""\n')
        command = [executable, str(config)]
        if run_as:
            for path in (directory, config, directory / "userlist.txt"):
                shutil.chown(path, user=run_as)
            command[1:1] = ["-u", run_as]
        self.log = directory / "pgbouncer.log"
        self._output = (directory / "output.log").open("wb")
        self.process = subprocess.Popen(command, stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.log.exists() or "listening on" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                output = (directory / "output.log").read_text()
                raise AssertionError(f"pgbouncer did not start: {output}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self._output.close()


@pytest.fixture
def pgbouncer(notes_url: str) -> Iterator[PgBouncer]:
    with reachable_dir() as root:
        bouncer = PgBouncer(notes_url, root / "pgbouncer")
        try:
            yield bouncer
        finally:
            bouncer.stop()


@pytest.fixture
def bounced_server(pgbouncer: PgBouncer, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {
        "DATABASE_URL": pgbouncer.url,
        "PORT": str(free_port()),
        # PgBouncer cannot keep prepared statements across transactions on shared server
        # connections, and refuses startup parameters it does not know (statement_timeout).
        "DB_STATEMENT_CACHE_SIZE": "0",
        "DB_STATEMENT_TIMEOUT": "0",
        # Migrated straight against PostgreSQL, as docs/scaling.md says (notes_url is).
        "MIGRATE_ON_START": "false",
    }
    server = ServerProcess(env, tmp_path / "server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        assert server.stop() == 0


def test_demo_session_passes_behind_pgbouncer(
    bounced_server: ServerProcess, pgbouncer: PgBouncer
) -> None:
    assert_demo_curl_session(bounced_server.base)

    assert "pool_mode" not in bounced_server.log.read_text()  # nothing complained
    assert "prepared statement" not in bounced_server.log.read_text()


def test_concurrent_traffic_behind_pgbouncer_never_fails(
    bounced_server: ServerProcess, database_url: str
) -> None:
    # Many clients, two server connections: statements from different requests interleave on
    # them, which breaks any named prepared statement.
    answers = asyncio.run(create_many(bounced_server.base, 200))
    mixed = asyncio.run(every_route_at_once(bounced_server.base, [a.json()["id"] for a in answers]))

    assert [a.status_code for a in answers] == [200] * 200
    assert {(method, status) for method, status, _ in mixed} == {
        ("GET", 200),
        ("PATCH", 200),
        ("PUT", 200),
        ("DELETE", 200),
    }
    # Pages and exports (streamed from a server-side cursor) arrive whole.
    arrays = [body for method, _, body in mixed if method == "GET" and body.startswith("[")]
    assert len(arrays) == 40
    assert [body[-1:] for body in arrays] == ["]"] * 40
    assert "prepared statement" not in bounced_server.log.read_text()
    assert sql(database_url, "SELECT count(*) FROM notes")[0][0] == 200 - 20


async def every_route_at_once(base: str, ids: list[int]) -> list[tuple[str, int, str]]:
    """Reads (pages, single notes, the streamed export) and writes, all concurrently."""
    calls: list[tuple[str, str, dict[str, object] | None]] = []
    for i, note_id in enumerate(ids[:20]):
        calls += [
            ("GET", f"/notes?take=10&after={note_id}", None),
            ("GET", "/notes/all", None),
            ("GET", f"/notes/{ids[-1 - i]}", None),
            ("PATCH", f"/notes/{ids[20 + i]}", {"completed": True}),
            ("PUT", f"/notes/{ids[40 + i]}", {"text": f"replaced {i}"}),
            ("DELETE", f"/notes/{note_id}", None),
        ]
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        answers = await asyncio.gather(
            *(client.request(method, path, json=body) for method, path, body in calls)
        )
    return [(m, a.status_code, a.text) for (m, _, _), a in zip(calls, answers, strict=True)]


# --- concurrency ------------------------------------------------------------------------------


async def create_many(base: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(client.post("/notes", json={"text": f"note {i}"}) for i in range(count))
            )
        )


def test_hundreds_of_concurrent_creates_give_as_many_distinct_notes(
    server: ServerProcess, database_url: str
) -> None:
    answers = asyncio.run(create_many(server.base, 300))

    assert [a.status_code for a in answers] == [200] * 300
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == 300
    rows = sql(database_url, "SELECT id, text FROM notes")
    assert {row["id"] for row in rows} == set(ids)
    assert sorted(row["text"] for row in rows) == sorted(f"note {i}" for i in range(300))


def test_racing_writes_on_one_note_never_give_a_5xx(
    server: ServerProcess, database_url: str
) -> None:
    async def race(client: httpx.AsyncClient) -> list[tuple[str, int]]:
        note_id = (await client.post("/notes", json={"text": "contested"})).json()["id"]
        path = f"/notes/{note_id}"
        requests = [
            random.choice(
                [
                    ("PUT", {"text": f"replaced {i}", "completed": i % 2 == 0}),
                    ("PATCH", {"completed": i % 3 == 0}),
                    ("PATCH", {"text": f"patched {i}"}),
                    ("DELETE", None),
                    ("GET", None),
                ]
            )
            for i in range(100)
        ]
        answers = await asyncio.gather(
            *(client.request(method, path, json=body) for method, body in requests)
        )
        return [(method, a.status_code) for (method, _), a in zip(requests, answers, strict=True)]

    async def rounds() -> list[list[tuple[str, int]]]:
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as client:
            return [await race(client) for _ in range(5)]

    results = asyncio.run(rounds())

    for outcome in results:
        assert {status for _, status in outcome} <= {200, 404}
        deletes = [status for method, status in outcome if method == "DELETE"]
        if deletes:
            assert deletes.count(200) == 1  # exactly one DELETE removed it
    remaining = sql(database_url, "SELECT count(*) FROM notes")[0][0]
    assert remaining == sum(1 for o in results if not any(m == "DELETE" for m, _ in o))
