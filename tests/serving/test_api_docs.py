"""/docs and /redoc work without the internet: every file they load is the service's own, their
Content-Security-Policy allows nothing else, and in a real browser cut off from everything but the
service, Swagger UI and ReDoc list every route of the OpenAPI document."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient
from playwright.sync_api import Route, sync_playwright
from screenshots import CHROMIUM, CHROMIUM_ARGS  # the flags `make screenshots` uses

from tests.support import ServerProcess

PAGES = ["/docs", "/redoc"]
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
# Records each Content-Security-Policy violation before the page's own scripts run.
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.violations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""
SWAGGER_ROUTES = """[...document.querySelectorAll(".opblock")].map((block) => [
    block.querySelector(".opblock-summary-method").innerText,
    block.querySelector(".opblock-summary-path").dataset.path,
])"""
REDOC_OPERATIONS = """[...document.querySelectorAll("[data-section-id^='operation/']")].map(
    (section) => section.dataset.sectionId.slice("operation/".length)
)"""


def sha256_source(script: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"


def policy(header: str) -> dict[str, list[str]]:
    directives = (d.split() for d in header.split(";") if d.strip())
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize("path", PAGES)
def test_docs_pages_load_only_files_the_service_serves(api: TestClient, path: str) -> None:
    page = api.get(path)

    assert page.status_code == 200
    assert "https://" not in page.text
    files = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert files
    for url in files:
        assert re.match(r"/[^/]", url), url  # a path on the service, not another origin
        answer = api.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].startswith(ASSET_TYPES[Path(url).suffix]), url
        assert len(answer.content) > 1000, url


@pytest.mark.parametrize("path", PAGES)
def test_docs_pages_allow_scripts_only_from_the_service(api: TestClient, path: str) -> None:
    page = api.get(path)

    allowed = policy(page.headers["Content-Security-Policy"])
    assert allowed["default-src"] == ["'none'"]
    assert allowed["frame-ancestors"] == ["'none'"]
    # Swagger UI starts from an inline script: it, and only it, is allowed, by its hash.
    inline = re.findall(r"<script>(.*?)</script>", page.text, flags=re.DOTALL)
    assert allowed["script-src"] == ["'self'", *map(sha256_source, inline)]
    for directive, sources in allowed.items():
        assert all(s.startswith("'") or s in ("data:", "blob:") for s in sources), directive


@pytest.mark.e2e
def test_swagger_ui_and_redoc_list_every_route_with_no_network(server: ServerProcess) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"needs Chromium ({CHROMIUM}): apt-get install chromium")
    document = requests.get(f"{server.base}/openapi.json", timeout=5).json()
    routes = {(m.upper(), path) for path, ops in document["paths"].items() for m in ops}
    operations = {op["operationId"] for ops in document["paths"].values() for op in ops.values()}
    assert ("DELETE", "/notes/{note_id}") in routes

    outside: list[str] = []

    def service_only(route: Route) -> None:
        # The browser reaches nothing but the service: no CDN, no fonts, no network at all.
        if route.request.url.startswith(f"{server.base}/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", service_only)
            context.add_init_script(RECORD_VIOLATIONS)
            page = context.new_page()

            page.goto(f"{server.base}/docs")
            page.locator(".opblock").first.wait_for(timeout=30_000)
            shown = set(map(tuple, page.evaluate(SWAGGER_ROUTES)))
            swagger_violations = page.evaluate("window.violations")

            page.goto(f"{server.base}/redoc")
            page.locator("[data-section-id^='operation/']").first.wait_for(timeout=30_000)
            documented = set(page.evaluate(REDOC_OPERATIONS))
            redoc_violations = page.evaluate("window.violations")
        finally:
            browser.close()

    assert shown == routes
    assert documented == operations
    assert outside == []
    assert swagger_violations == []
    # The one thing refused: ReDoc's "API docs by Redocly" footer logo, an image on its CDN.
    assert [v for v in redoc_violations if not v.startswith("img-src https://cdn.redoc.ly/")] == []
