"""Retake the docs' screenshots from the real service: `make screenshots`.

Starts `python src/main.py` on a free port, on a throwaway embedded PostgreSQL (or on
--database-url), writes a few notes through the API, and photographs, in headless Chromium (Debian's
/usr/bin/chromium, driven by Playwright):

    docs/images/swagger-ui.png      /docs, the Swagger UI
    docs/images/swagger-try.png     GET /notes tried out from the Swagger UI, with its answer
    docs/images/redoc.png           /redoc
    docs/images/locust-charts.png   Locust's charts tab, ~30 s into a run of locustfile.py
    docs/images/prometheus-graph.png
                                    Prometheus' graph page, the first query of
                                    docs/observability.md (requests per second by route), from a
                                    Prometheus scraping the service every second during the same
                                    Locust run (skipped, with a word, if `prometheus` is missing:
                                    apt-get install prometheus)

The service serves Swagger UI and ReDoc itself, and Debian's Prometheus its classic web UI, so no
network is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 860}
NOTES = [
    {"text": "Buy milk"},
    {"text": "Call the plumber", "completed": True},
    {"text": "Read the runbook", "completed": False},
    {"text": "Write a migration for tags"},
]
LOCUST_SECONDS = 30
OBSERVABILITY = ROOT / "docs" / "observability.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, *, timeout: float = 30) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        body: bytes = answer.read()
        return body


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: {process.args!r} exited early:\n{log.read_text()}")
        try:
            get(url, timeout=1)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise SystemExit(f"error: {url} did not answer in {timeout:.0f}s:\n{log.read_text()}")


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path, ready_url: str) -> Iterator[None]:
    """A child process, stopped with SIGTERM (as a process manager would) on the way out."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            wait_for(ready_url, process, log)
            yield
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def service(work: Path, database_url: str | None) -> Iterator[str]:
    """The service on a free port; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"PORT": str(port), "HOST": "127.0.0.1", "RELOAD": "false", "WORKERS": "1"}
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        # A throwaway embedded PostgreSQL: the same code path as `make run`, none of your notes.
        # (When run as root, the server's own user must be able to reach this directory.)
        work.chmod(0o755)
        env |= {"EMBEDDED_DB_DIR": str(work / "postgres"), "EMBEDDED_DB_PORT": str(free_port())}
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, str(ROOT / "src" / "main.py")]
    with running(command, env, work / "service.log", f"{base}/ready"):
        yield base


def seed(base: str) -> None:
    for note in NOTES:
        request = urllib.request.Request(
            f"{base}/notes",
            data=json.dumps(note).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200, answer.status


def shoot_swagger(browser: Browser, base: str) -> None:
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock-summary", timeout=60_000)
    page.wait_for_timeout(500)
    # The whole page: every route, down to the schemas.
    save(page, "swagger-ui.png", full_page=True)

    # GET /notes, tried out: the answer of the live service, as a reader would see it.
    block = page.locator("#operations-notes-list_notes_notes_get")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    answer = block.locator(".live-responses-table").first
    answer.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    # From the route's title down to the server's answer; the documented answers below are long.
    top, bottom = block.bounding_box(), answer.bounding_box()
    assert top is not None
    assert bottom is not None
    # Boxes are measured in the viewport; a full-page clip is in page coordinates.
    scrolled = float(page.evaluate("window.scrollY"))
    clip = {"x": top["x"], "y": top["y"] + scrolled, "width": top["width"]}
    clip["height"] = bottom["y"] + bottom["height"] - top["y"]
    page.screenshot(path=IMAGES / "swagger-try.png", full_page=True, clip=clip)  # type: ignore[arg-type]
    print(f"  {IMAGES / 'swagger-try.png'}")
    page.close()


def shoot_redoc(browser: Browser, base: str) -> None:
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    page.goto(f"{base}/redoc")
    page.wait_for_selector("h1", timeout=60_000)
    page.locator("h2", has_text="Create Note").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    save(page, "redoc.png")
    page.close()


def doc_blocks(language: str) -> list[str]:
    """The ```language blocks of docs/observability.md, as tests/test_prometheus.py reads them."""
    page = OBSERVABILITY.read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", page, re.MULTILINE | re.DOTALL)


@contextmanager
def prometheus(base: str, work: Path) -> Iterator[str | None]:
    """Prometheus on a free port, scraping the service every second with the page's scrape job;
    its URL, or None (and a word) if it is not installed. Stopped, its data removed, on the way out.
    """
    if shutil.which("prometheus") is None:
        print("  prometheus is missing (apt-get install prometheus): no prometheus-graph.png")
        yield None
        return
    (scrape_job,) = [block for block in doc_blocks("yaml") if "scrape_configs" in block]
    target = urllib.parse.urlsplit(base).netloc
    config = scrape_job.replace("15s", "1s").replace("127.0.0.1:5000", target)
    home = work / "prometheus"
    home.mkdir()
    (home / "prometheus.yml").write_text(config)
    web = f"http://127.0.0.1:{free_port()}"
    command = [
        "prometheus",
        f"--config.file={home / 'prometheus.yml'}",
        f"--storage.tsdb.path={home / 'data'}",
        f"--web.listen-address={urllib.parse.urlsplit(web).netloc}",
    ]
    try:
        with running(command, dict(os.environ), work / "prometheus.log", f"{web}/-/ready"):
            yield web
    finally:
        shutil.rmtree(home, ignore_errors=True)


def shoot_prometheus(browser: Browser, web: str) -> None:
    """The graph page of the page's first query, over the last 40 s, once every route of the load
    has a rate."""
    # Over a 10 s window, not the page's 5 minutes: rate() divides by its window, so on the half
    # minute of data there is a 5-minute rate would draw a ramp at a tenth of Locust's real rate.
    promql = doc_blocks("promql")[0].strip()
    assert "[5m]" in promql, promql
    promql = promql.replace("[5m]", "[10s]")
    deadline = time.monotonic() + 30
    routes: set[str] = set()
    while time.monotonic() < deadline:
        url = f"{web}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        answer = json.loads(get(url, timeout=5))
        routes = {series["metric"].get("route", "") for series in answer["data"]["result"]}
        if {"/notes", "/notes/{note_id}"} <= routes:
            break
        time.sleep(1)
    else:
        raise SystemExit(
            f"error: Prometheus has no rates for /notes and /notes/{{note_id}}: {routes}"
        )
    # Debian's Prometheus serves the classic UI: g0.tab=0 is its Graph tab.
    expr = urllib.parse.quote(promql, safe="")
    page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    page.goto(f"{web}/classic/graph?g0.expr={expr}&g0.tab=0&g0.range_input=40s")
    page.locator(".graph_area svg path").first.wait_for(timeout=30_000)
    page.locator(".legend .line").nth(len(routes) - 1).wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    save(page, "prometheus-graph.png")
    page.close()


def shoot_locust(browser: Browser, base: str, work: Path) -> None:
    locustfile = ROOT / "locustfile.py"
    if not locustfile.exists():
        raise SystemExit("error: locustfile.py is missing: no Locust charts to take")
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    command = [
        *(sys.executable, "-m", "locust", "-f", str(locustfile), "--host", base),
        *("--web-host", "127.0.0.1", "--web-port", str(port), "--autostart"),
        *("--users", "10", "--spawn-rate", "5", "--run-time", f"{LOCUST_SECONDS + 30}s"),
    ]
    # Prometheus scrapes the service through the same run: its graph is taken after Locust's charts.
    with (
        prometheus(base, work) as scraper,
        running(command, dict(os.environ), work / "locust.log", web),
    ):
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        page.goto(web)
        print(f"  Locust is running {LOCUST_SECONDS}s of load on {base} ...")
        page.wait_for_timeout(LOCUST_SECONDS * 1000)
        page.get_by_role("tab", name="Charts").click()
        page.locator("canvas").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        save(page, "locust-charts.png")
        page.close()
        if scraper:
            shoot_prometheus(browser, scraper)


def save(page: Page, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=IMAGES / name, full_page=full_page)
    print(f"  {IMAGES / name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or None,
        help="a database to use (default: a throwaway embedded PostgreSQL)",
    )
    parser.add_argument("--only", choices=("api", "locust"), help="take only these pictures")
    arguments = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"error: {CHROMIUM} is missing: apt-get install chromium")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="notes-screenshots-") as tmp:
        work = Path(tmp)
        with service(work, arguments.database_url) as base, sync_playwright() as playwright:
            print(f"service on {base}")
            seed(base)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                if arguments.only in (None, "api"):
                    shoot_swagger(browser, base)
                    shoot_redoc(browser, base)
                if arguments.only in (None, "locust"):
                    shoot_locust(browser, base, work)
            finally:
                browser.close()
        shutil.rmtree(work / "postgres", ignore_errors=True)


if __name__ == "__main__":
    main()
