"""/metrics (observability/metrics.py, sampled.py, tallies.py, page.py; serving/guards.py), in
process: requests counted by method, route template and status, timed, and the database pool's
state. The metrics are the process's: each test compares them before and after
(tests.support.metric_value), each read after a scrape, which hands the counts kept as plain
numbers over to prometheus-client (tallies.py)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, multiprocess

from notes_api import __version__
from notes_api.app import create_app
from notes_api.config import Settings
from tests.support import ServerProcess, free_port, metric_value, wait_until


def counted(api: TestClient, route: str, status: str, method: str = "GET") -> float:
    api.get("/metrics")
    return metric_value("http_requests_total", method=method, route=route, status=status)


def timed(api: TestClient, route: str, method: str = "GET") -> float:
    api.get("/metrics")
    return metric_value("http_request_duration_seconds_count", method=method, route=route)


def waited(api: TestClient) -> float:
    api.get("/metrics")
    return metric_value("db_pool_wait_seconds_count", database="primary")


def test_requests_are_counted_by_route_template_never_by_their_path(api: TestClient) -> None:
    before = (
        counted(api, "/notes/{note_id}", "404"),
        counted(api, "/notes/{note_id}", "422"),
        counted(api, "unmatched", "404"),
        timed(api, "/notes/{note_id}"),
    )
    for path in ("/notes/1", "/notes/2", "/notes/abc", "/nowhere/1", "/nowhere/2"):
        api.get(path)
    after = (
        counted(api, "/notes/{note_id}", "404"),
        counted(api, "/notes/{note_id}", "422"),
        counted(api, "unmatched", "404"),
        timed(api, "/notes/{note_id}"),
    )

    assert [b - a for a, b in zip(before, after, strict=True)] == [2, 1, 2, 3]
    page = api.get("/metrics").text
    assert 'route="/notes/{note_id}"' in page
    assert "/notes/1" not in page
    assert "/nowhere" not in page


def test_writes_sent_as_forms_are_counted_by_their_route(api: TestClient) -> None:
    # serving/guards.py relabels such a body JSON in a copy of the scope: the route still counts.
    before = counted(api, "/notes", "200", "POST")
    form = {"Content-Type": "application/x-www-form-urlencoded"}  # as `curl --data` labels it
    answer = api.post("/notes", content=b'{"text": "x"}', headers=form)

    assert answer.status_code == 200
    assert counted(api, "/notes", "200", "POST") - before == 1


def test_invented_methods_share_one_label(api: TestClient) -> None:
    before = counted(api, "/notes", "405", "other")
    api.request("BREW", "/notes")
    api.request("FROB", "/notes")

    assert counted(api, "/notes", "405", "other") - before == 2


def test_nothing_is_left_in_progress(api: TestClient) -> None:
    api.get("/notes")
    api.get("/notes/abc")  # 422
    api.post("/notes", content=b"{")  # 422, from the body
    api.get("/nowhere")  # 404
    # A scrape samples the requests in progress (sampled.py): none but itself.
    assert "http_requests_in_progress 1.0" in api.get("/metrics").text.splitlines()


def test_the_page_is_prometheus_text_and_not_in_the_api_document(api: TestClient) -> None:
    page = api.get("/metrics")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain; version=")
    assert 'notes_api_build_info{python="' in page.text
    assert f'version="{__version__}"}} 1.0' in page.text
    assert "process_resident_memory_bytes" in page.text
    assert "/metrics" not in api.get("/openapi.json").json()["paths"]


def test_the_pool_is_shown_as_it_is(api: TestClient, settings: Settings) -> None:
    waits = waited(api)
    api.get("/notes")
    api.get("/metrics")

    assert metric_value("db_pool_wait_seconds_count", database="primary") - waits == 1
    assert metric_value("db_pool_max_size", database="primary") == settings.db_pool_max_size
    size = metric_value("db_pool_size", database="primary")
    assert size >= 1
    assert metric_value("db_pool_idle", database="primary") == size  # none lent now
    assert metric_value("db_pool_in_use", database="primary") == 0
    assert metric_value("db_pool_waiting", database="primary") == 0


def test_metrics_false_serves_none_and_counts_nothing(api: TestClient, settings: Settings) -> None:
    # `api` (the session's app, metrics on) hands over what it counted before, then counts
    # nothing more of GET /notes.
    before = counted(api, "/notes", "200"), waited(api)
    with TestClient(create_app(settings.model_copy(update={"metrics": False}))) as client:
        page = client.get("/metrics")
        client.get("/notes")

    assert page.status_code == 404
    assert (counted(api, "/notes", "200"), waited(api)) == before
    assert "x-request-id" in page.headers  # the IDs are not metrics: they stay


@pytest.mark.e2e
def test_with_workers_one_scrape_sees_them_all(notes_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": notes_url, "PORT": str(free_port()), "WORKERS": "2"}
    before = set(Path(tempfile.gettempdir()).glob("notes-api-metrics-*"))
    server = ServerProcess(env, tmp_path / "server.log")
    try:
        server.wait_ready()
        # Where the workers keep their values (src/main.py): made for this server.
        (shared,) = set(Path(tempfile.gettempdir()).glob("notes-api-metrics-*")) - before
        # Which worker accepts a connection is the kernel's choice (one may still be starting):
        # send until each has served some, each request on a new connection.
        sent = 0
        while len(served_by_worker(shared)) < 2 and sent < 1000:
            requests.get(f"{server.base}/notes", headers={"Connection": "close"}, timeout=5)
            sent += 1
        # Each worker hands its counts over to the shared files once a second (tallies.py).
        by_worker = wait_until(
            f"the {sent} requests in the workers' files",
            lambda: served_by_worker(shared),
            lambda by_worker: sum(by_worker.values()) == sent,
            seconds=5,
        )
        scrapes = [
            requests.get(f"{server.base}/metrics", headers={"Connection": "close"}, timeout=5)
            for _ in range(8)
        ]
    finally:
        assert server.stop() == 0

    assert len(by_worker) == 2
    assert sum(by_worker.values()) == sent
    served = f'http_requests_total{{method="GET",route="/notes",status="200"}} {float(sent)}'
    timed = f'http_request_duration_seconds_count{{method="GET",route="/notes"}} {float(sent)}'
    assert all(served in scrape.text.splitlines() for scrape in scrapes)
    assert all(timed in scrape.text.splitlines() for scrape in scrapes)
    assert not shared.exists()  # removed with the server


def served_by_worker(shared: Path) -> dict[str, float]:
    """GET /notes answered 200, by worker: each worker's counters file (counter_<pid>.db) read
    alone, by prometheus-client's collector over a directory holding only that file."""
    served = {}
    for counters in shared.glob("counter_*.db"):
        alone = Path(tempfile.mkdtemp())
        try:
            shutil.copy(counters, alone)
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, str(alone))  # type: ignore[no-untyped-call]
            value = registry.get_sample_value(
                "http_requests_total", {"method": "GET", "route": "/notes", "status": "200"}
            )
        finally:
            shutil.rmtree(alone)
        if value:
            served[counters.stem.removeprefix("counter_")] = value
    return served
