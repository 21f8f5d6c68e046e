"""The service on a bad day: its database stops, its pool runs dry, a query hangs, it is told to
stop in the middle of work. Real server processes, real PostgreSQL clusters the tests control."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg
import httpx2 as httpx  # starlette's TestClient needs httpx2; its API is httpx's
import pytest
import requests

from notes_api.development.database import ensure_database
from notes_api.development.embedded import EmbeddedPostgres
from tests.support import ServerProcess, free_port, sql, throwaway_cluster

pytestmark = pytest.mark.e2e

# No request may take longer than this, whatever the database does.
REQUEST_BOUND = 10.0


@dataclass
class Answer:
    text: str
    started: float
    took: float
    status: int | None  # None: no HTTP answer at all (timeout, connection refused)
    retry_after: str | None = None
    error: str = ""


class Writers:
    """Threads creating notes with distinct texts as fast as the service answers."""

    def __init__(self, base: str, threads: int) -> None:
        self.base = base
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(threads)
        ]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_BOUND + 5)

    def _write(self, n: int) -> None:
        with requests.Session() as session:
            i = 0
            while not self._stop.is_set():
                text = f"writer {n} note {i}"
                i += 1
                started = time.monotonic()
                try:
                    r = session.post(
                        f"{self.base}/notes", json={"text": text}, timeout=REQUEST_BOUND
                    )
                    answer = Answer(
                        text, started, time.monotonic() - started, r.status_code,
                        r.headers.get("Retry-After"),
                        "" if r.status_code == 200 else r.text,
                    )  # fmt: skip
                except requests.RequestException as error:
                    answer = Answer(
                        text, started, time.monotonic() - started, None, error=repr(error)
                    )
                self.answers.append(answer)
                time.sleep(0.01)


@pytest.fixture
def cluster() -> Iterator[EmbeddedPostgres]:
    with throwaway_cluster() as cluster:
        asyncio.run(ensure_database(cluster.url(), "notes"))
        yield cluster


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_database_outage_answers_503_then_recovers_without_losing_writes(
    cluster: EmbeddedPostgres, tmp_dir: Path, mode: Literal["fast", "immediate"]
) -> None:
    # fast: an orderly stop (sessions are told, data flushed); immediate: a crash, as on power loss
    env = {
        "DATABASE_URL": cluster.url("notes"),
        "PORT": str(free_port()),
        "DB_POOL_TIMEOUT": "2",
        "ACCESS_LOG": "false",
    }
    server = ServerProcess(env, tmp_dir / "server.log")
    try:
        server.wait_ready()
        with Writers(server.base, threads=4) as writers:
            time.sleep(1)
            cluster.stop(mode)
            time.sleep(0.5)
            ready_down = requests.get(f"{server.base}/ready", timeout=REQUEST_BOUND)
            time.sleep(2)
            cluster.start()
            back_at = time.monotonic()
            # Recovered: a write started after the restart succeeded. Give it 5 s.
            while time.monotonic() < back_at + 5 and not any(
                a.status == 200 and a.started >= back_at for a in writers.answers
            ):
                time.sleep(0.05)
            time.sleep(1)
            ready_back = requests.get(f"{server.base}/ready", timeout=REQUEST_BOUND)
    finally:
        assert server.stop() == 0

    answers = writers.answers
    failures = [a for a in answers if a.status not in (200, 503)]
    assert failures == [], failures[:5]
    assert max(a.took for a in answers) < REQUEST_BOUND
    unavailable = [a for a in answers if a.status == 503]
    assert unavailable, "the outage produced no 503: did the database stop?"
    assert {a.retry_after for a in unavailable} == {"5"}
    assert {a.error for a in unavailable} == {
        '{"detail":"The database is unavailable; try again shortly"}'
    }
    assert (ready_down.status_code, ready_down.json()) == (503, {"status": "unavailable"})
    assert (ready_back.status_code, ready_back.json()) == (200, {"status": "ready"})

    recovered = [a for a in answers if a.status == 200 and a.started >= back_at]
    assert recovered, "no write succeeded within 5 s of the database's return"
    recovery = min(a.started + a.took for a in recovered) - back_at
    assert recovery < 5
    # Once recovered, it stays recovered.
    assert [a for a in answers if a.started > back_at + recovery and a.status != 200] == []

    # Error answers carry no secret, no SQL, no stack trace; neither does the log.
    log = server.log.read_text()
    assert cluster.password not in log
    assert all(cluster.password not in a.error for a in answers)
    # No unhandled error (asyncpg's own pool may log its reconnect attempts with tracebacks).
    assert "Exception in ASGI application" not in log

    stored = {row["text"] for row in sql(cluster.url("notes"), "SELECT text FROM notes")}
    acknowledged = {a.text for a in answers if a.status == 200}
    lost = acknowledged - stored
    assert lost == set()
    print(
        f"\noutage ({mode}): {len(answers)} writes, {len(acknowledged)} answered 200, "
        f"{len(unavailable)} answered 503, slowest {max(a.took for a in answers):.2f}s, "
        f"recovery {recovery:.2f}s after restart, {len(lost)} lost"
    )


def start_server(database_url: str, log: Path, **settings: str) -> ServerProcess:
    env = {"DATABASE_URL": database_url, "PORT": str(free_port()), "ACCESS_LOG": "false"}
    server = ServerProcess(env | settings, log)
    try:
        server.wait_ready()
    except AssertionError:
        server.stop()
        raise
    return server


def test_busy_pool_answers_503_after_the_pool_timeout(notes_url: str, tmp_path: Path) -> None:
    server = start_server(
        notes_url,
        tmp_path / "log",
        DB_POOL_MIN_SIZE="1",
        DB_POOL_MAX_SIZE="1",
        DB_POOL_TIMEOUT="1",
    )
    try:
        release = threading.Event()
        blocker = threading.Thread(target=_hold_lock_until, args=(notes_url, release))

        async def scenario() -> tuple[httpx.Response, float, httpx.Response, str]:
            async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_BOUND) as client:
                # This one takes the only connection, and waits for the lock.
                holding = asyncio.create_task(client.post("/notes", json={"text": "patient"}))
                await asyncio.sleep(0.5)
                started = time.monotonic()
                waiting = asyncio.create_task(client.get("/notes"))
                await asyncio.sleep(0.5)
                while_waiting = (await client.get("/metrics")).text
                starved = await waiting
                waited = time.monotonic() - started
                release.set()
                return starved, waited, await holding, while_waiting

        blocker.start()
        time.sleep(0.5)
        starved, waited, patient, while_waiting = asyncio.run(scenario())
        blocker.join(10)
        after = requests.get(f"{server.base}/metrics", timeout=5).text.splitlines()
    finally:
        assert server.stop() == 0
    # /metrics showed the pool as it was: its one connection lent, a request in line.
    for sample in ("db_pool_in_use", "db_pool_waiting", "db_pool_max_size"):
        assert f'{sample}{{database="primary"}} 1.0' in while_waiting.splitlines()
    # The starved request's wait, about DB_POOL_TIMEOUT, in the histogram's (0.5, 1] or (1, 2.5].
    waits = {
        line.split('le="')[1].split('"')[0]: float(line.split()[-1])
        for line in after
        if line.startswith('db_pool_wait_seconds_bucket{database="primary"')
    }
    assert waits["2.5"] - waits["0.5"] >= 1
    assert 'http_unavailable_total{cause="database_unavailable"} 1.0' in after
    assert starved.status_code == 503
    assert starved.headers["Retry-After"] == "5"
    assert 1.0 <= waited < 3.0
    # The request that held the connection was only slow, not refused.
    assert patient.status_code == 200
    assert patient.json()["text"] == "patient"


def _hold_lock_until(database_url: str, release: threading.Event) -> None:
    async def hold() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
                await asyncio.to_thread(release.wait, 30)
        finally:
            await connection.close()

    asyncio.run(hold())


def test_statement_timeout_answers_503_and_writes_nothing(notes_url: str, tmp_path: Path) -> None:
    server = start_server(notes_url, tmp_path / "log", DB_STATEMENT_TIMEOUT="0.5")
    release = threading.Event()
    blocker = threading.Thread(target=_hold_lock_until, args=(notes_url, release))
    try:
        blocker.start()
        time.sleep(0.5)
        started = time.monotonic()
        answer = requests.post(
            f"{server.base}/notes",
            json={"text": "slow"},
            headers={"X-Request-ID": "client-report-17"},
            timeout=REQUEST_BOUND,
        )
        took = time.monotonic() - started
        scraped = requests.get(f"{server.base}/metrics", timeout=5).text
    finally:
        release.set()
        blocker.join(10)
        assert server.stop() == 0
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert 0.5 <= took < 3.0
    assert sql(notes_url, "SELECT count(*) FROM notes")[0][0] == 0
    # The 503 a client reports is found in the log by its ID, and counted by its cause.
    assert answer.headers["X-Request-ID"] == "client-report-17"
    warning = "WARNING:notes_api.errors:Database unavailable on POST /notes: QueryCanceledError"
    lines = [line for line in server.log.read_text().splitlines() if warning in line]
    assert len(lines) == 1
    assert lines[0].endswith(" request_id=client-report-17")
    assert 'http_unavailable_total{cause="statement_timeout"} 1.0' in scraped.splitlines()


def test_sigterm_under_load_finishes_requests_then_exits_0(
    embedded_dir: Path, tmp_dir: Path
) -> None:
    env = {
        "EMBEDDED_DB_DIR": str(embedded_dir),
        "EMBEDDED_DB_PORT": str(free_port()),
        "PORT": str(free_port()),
        "ACCESS_LOG": "false",
    }
    server = ServerProcess(env, tmp_dir / "server.log")
    try:
        server.wait_ready()
        database = EmbeddedPostgres(root=embedded_dir, port=int(env["EMBEDDED_DB_PORT"]))
        url = database.url("notes")
        release = threading.Event()
        blocker = threading.Thread(target=_hold_lock_until, args=(url, release))
        blocker.start()
        time.sleep(0.5)

        async def scenario() -> tuple[list[httpx.Response], float]:
            async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_BOUND) as client:
                in_flight = [
                    asyncio.create_task(client.post("/notes", json={"text": f"in flight {i}"}))
                    for i in range(20)
                ]
                await asyncio.sleep(0.5)  # all 20 sent, all waiting on the lock
                server.process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                await asyncio.sleep(0.5)
                release.set()
                return list(await asyncio.gather(*in_flight)), signalled

        answers, signalled = asyncio.run(scenario())
        blocker.join(10)
        code = server.process.wait(REQUEST_BOUND)
        stopped_in = time.monotonic() - signalled
    finally:
        release.set()
        server.stop()
    assert code == 0
    assert stopped_in < 10
    assert [a.status_code for a in answers] == [200] * 20
    # The embedded server went down with the service...
    assert not (embedded_dir / "pgdata" / "postmaster.pid").exists()
    log = server.log.read_text()
    assert "Application shutdown complete." in log  # the lifespan closed the pool
    assert "Embedded PostgreSQL stopped" in log
    # ...with every answered write in it.
    database.start()
    try:
        texts = {row["text"] for row in sql(url, "SELECT text FROM notes")}
    finally:
        database.stop()
    assert texts == {f"in flight {i}" for i in range(20)}
    print(f"\nshutdown: 20 in-flight requests answered 200, exit 0 in {stopped_in:.2f}s")


def test_sigterm_with_a_stuck_request_still_exits_0_within_10s(
    notes_url: str, tmp_path: Path
) -> None:
    # No statement timeout: only SHUTDOWN_TIMEOUT can end the stuck request.
    server = start_server(notes_url, tmp_path / "log", DB_STATEMENT_TIMEOUT="0")
    release = threading.Event()
    blocker = threading.Thread(target=_hold_lock_until, args=(notes_url, release))
    blocker.start()
    try:
        time.sleep(0.5)

        async def scenario() -> tuple[BaseException | httpx.Response, int, float]:
            async with httpx.AsyncClient(base_url=server.base, timeout=REQUEST_BOUND) as client:
                stuck = asyncio.create_task(client.post("/notes", json={"text": "stuck"}))
                await asyncio.sleep(0.5)
                server.process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                code = await asyncio.to_thread(server.process.wait, REQUEST_BOUND)
                stopped_in = time.monotonic() - signalled
                answer = (await asyncio.gather(stuck, return_exceptions=True))[0]
                return answer, code, stopped_in

        answer, code, stopped_in = asyncio.run(scenario())
    finally:
        release.set()
        blocker.join(10)
        server.stop()

    assert code == 0
    assert stopped_in < 10
    # Cut off after SHUTDOWN_TIMEOUT, with an answer that says to retry.
    assert isinstance(answer, httpx.Response)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Exception in ASGI application" not in server.log.read_text()
    assert sql(notes_url, "SELECT count(*) FROM notes")[0][0] == 0
    print(f"\nstuck request: 503, exit {code} {stopped_in:.2f}s after SIGTERM")
