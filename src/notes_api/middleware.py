"""ASGI middleware of our own."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

JSON = b"application/json"
FORM = b"application/x-www-form-urlencoded"


class LenientJSONBody:
    """Read a body labelled form-encoded, or not labelled at all, as JSON.

    `curl --data '{"text": "Test"}'` labels its body form-encoded, and FastAPI parses only JSON
    content types, so the demo's own curl session would get a 422. This API takes no forms, so such
    a body can only be meant as JSON. Turn it off with LENIENT_CONTENT_TYPE=false: form-encoded
    POSTs are "simple" cross-origin requests that browsers send without a CORS preflight.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            labels = [v for k, v in scope["headers"] if k == b"content-type"]
            if not labels or labels[0].split(b";")[0].strip().lower() == FORM:
                scope = dict(scope, headers=[*headers, (b"content-type", JSON)])
        await self.app(scope, receive, send)
