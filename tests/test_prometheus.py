"""A real Prometheus scrapes /metrics: the target is up, and the queries of docs/observability.md
answer with the labels they group by; `promtool check metrics` passes on the text, and `promtool
check rules` on the page's alert rules."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import ROOT, ServerProcess, free_port, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="needs Prometheus and promtool: apt-get install prometheus",
    ),
]

PAGE = (ROOT / "docs" / "observability.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", PAGE, re.MULTILINE | re.DOTALL)


@pytest.fixture
def prometheus(server: ServerProcess, tmp_path: Path) -> Iterator[str]:
    """Prometheus on a free port, scraping the service every second, as the page's job."""
    (scrape_job,) = [block for block in blocks("yaml") if "scrape_configs" in block]
    config = scrape_job.replace("15s", "1s").replace("127.0.0.1:5000", f"127.0.0.1:{server.port}")
    (tmp_path / "prometheus.yml").write_text(config)
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    body = answer.json()
    assert body["status"] == "success", (promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_promtool_passes_the_metrics_text(server: ServerProcess) -> None:
    requests.get(f"{server.base}/notes/1", timeout=5)
    text = requests.get(f"{server.base}/metrics", timeout=5).text
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_passes_the_pages_alert_rules(tmp_path: Path) -> None:
    (rules,) = [block for block in blocks("yaml") if "groups:" in block]
    (tmp_path / "rules.yml").write_text(rules)
    checked = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout


def test_prometheus_scrapes_the_service_and_the_pages_queries_answer(
    server: ServerProcess, prometheus: str
) -> None:
    wait_until("Prometheus to be up", lambda: ready(prometheus), lambda up: up, seconds=30)
    started = time.monotonic()
    while time.monotonic() - started < 6:  # traffic over a few scrapes
        created = requests.post(f"{server.base}/notes", json={"text": "scraped"}, timeout=5)
        requests.get(f"{server.base}/notes/{created.json()['id']}", timeout=5)
        requests.get(f"{server.base}/notes", timeout=5)
        requests.get(f"{server.base}/notes/999999", timeout=5)
        time.sleep(0.1)

    up = wait_until(
        "the target to be up",
        lambda: query(prometheus, 'up{job="notes-api"}'),
        lambda result: bool(result) and result[0]["value"][1] == "1",
        seconds=30,
    )
    assert up[0]["metric"]["instance"] == f"127.0.0.1:{server.port}"
    by_route = wait_until(
        "request rates by route",
        lambda: query(prometheus, blocks("promql")[0]),
        lambda result: {"/notes", "/notes/{note_id}"} <= {s["metric"]["route"] for s in result},
        seconds=30,
    )
    assert not [s for s in by_route if re.search(r"/notes/\d", s["metric"]["route"])]
    p99 = query(prometheus, blocks("promql")[1])
    assert {"/notes", "/notes/{note_id}"} <= {s["metric"]["route"] for s in p99}
    waiting = query(prometheus, 'db_pool_waiting{job="notes-api", database="primary"}')
    assert [s["value"][1] for s in waiting] == ["0"]
    for promql in blocks("promql"):  # every query on the page is valid PromQL here
        query(prometheus, promql)


def ready(prometheus: str) -> bool:
    try:
        return requests.get(f"{prometheus}/-/ready", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False
