"""The API's own documentation pages, /docs (Swagger UI) and /redoc (ReDoc), served whole by the
service.

FastAPI's own pages load Swagger UI and ReDoc from a CDN: without internet they are blank. Here
their files come from the fastapi-offline package (Swagger UI 5, ReDoc 2: the majors FastAPI's CDN
links name) and are served under /docs/assets, as FastAPI's "self-hosting" recipe does. Each page
carries a Content-Security-Policy that lets it load nothing from elsewhere (the package's own
`FastAPIOffline` builds the same pages, without one).
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS = "/docs"
REDOC = "/redoc"
ASSETS = "/docs/assets"  # swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png

# Swagger UI starts from an inline script, allowed by its hash (added per page). Styles and images
# are its own; `data:` images are icons in its stylesheet.
SWAGGER_POLICY = (
    "default-src 'none'; script-src 'self' {scripts}; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# ReDoc writes its styles into <style> elements as it renders (styled-components), and runs its
# search in a worker made from a `blob:` URL. The Redocly logo in its footer, an image on Redocly's
# CDN, is refused: the footer keeps its text.
REDOC_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src blob:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def install(app: FastAPI) -> None:
    """Serve the pages and their files. The app is made with `docs_url=None, redoc_url=None`."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")

    # As FastAPI adds its own pages: plain routes, which answer HEAD too.
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        scripts = " ".join(script_hashes(bytes(page.body).decode()))
        page.headers["Content-Security-Policy"] = SWAGGER_POLICY.format(scripts=scripts)
        return page

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = REDOC_POLICY
        return page

    app.add_route(DOCS, swagger_ui, include_in_schema=False)
    app.add_route(REDOC, redoc, include_in_schema=False)


def script_hashes(html: str) -> list[str]:
    """CSP sources ('sha256-...') allowing exactly the inline scripts of `html`."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(html)
    ]
