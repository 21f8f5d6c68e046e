"""Adminer, in a real browser, shows the rows the API wrote: what `make adminer` promises.

The service runs as a process on the test database; notes go in through its HTTP API; Adminer is
served by `scripts/adminer.py` (what `make adminer` runs); headless Chromium logs in with what the
script printed and opens the `notes` table. It saves a screenshot to reports/adminer-notes.png, or
to ADMINER_SCREENSHOT: `make screenshots` points that at docs/images/adminer-notes.png, the picture
the docs show (a test run leaves the committed picture alone).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from adminer import DEBIAN_ADMINER, missing_tools
from playwright.sync_api import Route, sync_playwright
from screenshots import CHROMIUM, CHROMIUM_ARGS  # the flags `make screenshots` uses

from tests.support import LOOPBACK, ROOT, ServerProcess, free_port, listening_addresses

pytestmark = pytest.mark.e2e

SCREENSHOT = Path(os.environ.get("ADMINER_SCREENSHOT", ROOT / "reports" / "adminer-notes.png"))
NOTES = [
    ("Buy oat milk", True),
    ("Call the plumber about the leak", False),
    ("Read the runbook before Friday", False),
]
# Adminer refuses to log in without a password. A server that trusts the connection (the trust-auth
# server CI tests on) never asks for it, so any will do there.
PLACEHOLDER_PASSWORD = "trust-auth-ignores-this"


@pytest.fixture(scope="module")
def tools() -> None:
    """Skip, naming the Debian packages to install, unless php, Adminer and Chromium are here."""
    missing = missing_tools(DEBIAN_ADMINER)  # what scripts/adminer.py checks
    if not Path(CHROMIUM).is_file():
        missing.append(f"Chromium ({CHROMIUM})")
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)}: apt-get install adminer php-cli php-pgsql chromium"
        )


@pytest.fixture
def service(notes_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(
        {"DATABASE_URL": notes_url, "PORT": str(free_port())}, tmp_path / "server.log"
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def adminer(tools: None, database_url: str, tmp_path: Path) -> Iterator[str]:
    """`scripts/adminer.py` serving on a free port; yields what it printed."""
    port = free_port()
    log = tmp_path / "adminer.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env["DATABASE_URL"] = database_url
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "adminer.py"), "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert process.poll() is None, f"adminer exited:\n{log.read_text()}"
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"adminer did not answer in 20s:\n{log.read_text()}")
        yield log.read_text()
    finally:
        process.terminate()  # php itself: the script exec'd it
        process.wait(10)


def test_adminer_shows_the_notes_written_through_the_api(
    service: ServerProcess, adminer: str, database_url: str
) -> None:
    for text, completed in NOTES:
        note = {"text": text, "completed": completed}
        created = requests.post(f"{service.base}/notes", json=note, timeout=5)
        assert created.status_code == 200

    # What `make adminer` told us to type.
    url = urlsplit(database_url)
    assert f"Server    {url.hostname}:{url.port}" in adminer
    assert f"Username  {url.username}" in adminer
    assert f"Database  {url.path.lstrip('/')}" in adminer
    link = re.search(r"http://127\.0\.0\.1:\d+/\?pgsql=\S+", adminer)
    assert link is not None, adminer
    origin = link.group(0).split("/?")[0]
    # Adminer, like the service and the embedded database, is reachable from this machine only.
    assert listening_addresses(int(origin.rsplit(":", 1)[1])) == {LOOPBACK}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 560})

            def local_only(route: Route) -> None:
                # Adminer's page asks adminer.org for a newer version: not from a test.
                if route.request.url.startswith(origin):
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", local_only)
            # The link fills in all but the password, and opens `notes` after the login.
            page.goto(link.group(0))
            assert page.input_value("input[name='auth[server]']") == f"{url.hostname}:{url.port}"
            page.fill("input[name='auth[password]']", url.password or PLACEHOLDER_PASSWORD)
            page.click("input[type=submit][value=Login]")
            page.wait_for_selector("h2:text-is('Select: notes')")

            rows = page.locator("table#table tbody tr")
            assert rows.count() == len(NOTES)
            table = page.inner_text("table#table")
            for text, _ in NOTES:
                assert text in table
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")
