"""ASGI middleware of our own."""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class BodySizeLimit:
    """Refuse a request body over `max_bytes` with 413, before reading it whole.

    A declared Content-Length over the limit is refused without reading a byte. Otherwise the body
    is read here, chunk by chunk, and refused as soon as it passes the limit (a chunked upload
    declares no length); a body within the limit is handed on as received. Memory per request
    stays below the limit whatever a client sends.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [v for k, v in scope["headers"] if k == b"content-length"]
        if declared and (not declared[0].isdigit() or int(declared[0]) > self.max_bytes):
            await self._too_large(send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app will see it
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"The request body is larger than {self.max_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", JSON),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body stays unread: this connection cannot carry another
                    # request.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# Answers are JSON for programs: nothing in them should run, load, or be framed.
API_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)


class SecurityHeaders:
    """Add protective headers to every answer (those the app set itself are kept).

    Swagger UI and ReDoc (`page_paths`) load scripts and styles from a CDN and run inline
    scripts, so their pages get every header except the API's strict Content-Security-Policy.
    """

    def __init__(self, app: ASGIApp, page_paths: frozenset[str]) -> None:
        self.app = app
        self.page_paths = page_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = API_HEADERS
        if scope["path"] in self.page_paths:
            extra = tuple(h for h in API_HEADERS if h[0] != b"content-security-policy")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                added = [h for h in extra if h[0] not in present]
                message = {**message, "headers": [*message.get("headers", []), *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ShutdownCutoff:
    """Answer 503 to a request that shutdown cut off, instead of uvicorn's 500.

    After SIGTERM, uvicorn lets requests in flight run for SHUTDOWN_TIMEOUT seconds, then cancels
    them. A request cancelled before it started its answer gets 503 and `Retry-After`: the client
    did nothing wrong and may retry, against another instance or this one once restarted.
    """

    def __init__(self, app: ASGIApp, retry_after: int) -> None:
        self.app = app
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except asyncio.CancelledError:
            if started:
                raise
            # The request's task ends here, answered; nothing waits on its cancellation.
            body = b'{"detail":"The service is shutting down; try again shortly"}'
            headers = [
                (b"content-type", JSON),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(self.retry_after).encode()),
                (b"connection", b"close"),
            ]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
