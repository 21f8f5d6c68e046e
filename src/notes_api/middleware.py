"""ASGI middleware of our own: one layer, `Guards`, for what every HTTP request goes through.

Each ASGI layer costs every request a call, and usually a wrapped `send`, whether or not it has
anything to do; four separate layers cost a GET /notes/{id} several percent of its time
(docs/performance.md). `Guards` does their four jobs in one pass over the request headers and one
wrapped `send`, in the order they nest:

1. security headers on every answer, the others' answers included;
2. a 503, not uvicorn's 500, for a request that shutdown cut off before it answered;
3. a 413 for a body over `max_body_size`, before it is read whole;
4. a body labelled form-encoded, or not labelled, read as JSON (`lenient_json`).
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON = b"application/json"
FORM = b"application/x-www-form-urlencoded"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

# Answers are JSON for programs: nothing in them should run, load, or be framed. The pages of
# api_docs.py set a Content-Security-Policy of their own, which is kept.
API_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)


class Guards:
    """Security headers, the shutdown cutoff, the body size limit and lenient JSON, in one layer.

    - Security headers: added to every answer; a header the app set itself is kept.
    - Shutdown cutoff: after SIGTERM, uvicorn lets requests in flight run for SHUTDOWN_TIMEOUT
      seconds, then cancels them. A request cancelled before it started its answer gets 503 and
      `Retry-After`: the client did nothing wrong and may retry, against another instance or this
      one once restarted.
    - Body size limit: a declared Content-Length over `max_body_size` is refused without reading
      a byte. Otherwise the body is read here, chunk by chunk, and refused as soon as it passes
      the limit (a chunked upload declares no length); a body within the limit is handed on as
      received. Memory per request stays below the limit whatever a client sends. A request with
      neither Content-Length nor Transfer-Encoding has no body (HTTP/1.1), so nothing is read.
    - Lenient JSON: `curl --data '{"text": "Test"}'` labels its body form-encoded, and FastAPI
      parses only JSON content types, so the demo's own curl session would get a 422. This API
      takes no forms, so such a body can only be meant as JSON. Off with
      LENIENT_CONTENT_TYPE=false: form-encoded POSTs are "simple" cross-origin requests that
      browsers send without a CORS preflight.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_size: int,
        retry_after: int,
        lenient_json: bool,
    ) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.retry_after = retry_after
        self.lenient_json = lenient_json

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.get("headers", [])
                present = {k.lower() for k, _ in headers}
                added = [h for h in API_HEADERS if h[0] not in present]
                message = {**message, "headers": [*headers, *added]}
            await send(message)

        try:
            length: bytes | None = None
            has_body = False
            label: bytes | None = None
            for key, value in scope["headers"]:
                if key == b"content-length":
                    length = length if length is not None else value
                    has_body = True
                elif key == b"transfer-encoding":
                    has_body = True
                elif key == b"content-type":
                    label = label if label is not None else value
            if length is not None and (not length.isdigit() or int(length) > self.max_body_size):
                await self._too_large(send_guarded)
                return
            if has_body:
                replay = await self._read_body(receive, send_guarded)
                if replay is None:
                    return  # answered 413
                receive = replay
            if self.lenient_json and scope["method"] in BODY_METHODS and _form_or_none(label):
                headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
                scope = dict(scope, headers=[*headers, (b"content-type", JSON)])
            await self.app(scope, receive, send_guarded)
        except asyncio.CancelledError:
            if started:
                raise
            # The request's task ends here, answered; nothing waits on its cancellation.
            await self._shutting_down(send_guarded)

    async def _read_body(self, receive: Receive, send: Send) -> Receive | None:
        """Read the body within the limit and return a `receive` that replays it; None after a
        413."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app will see it
            size += len(message.get("body", b""))
            if size > self.max_body_size:
                await self._too_large(send)
                return None
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"The request body is larger than {self.max_body_size} bytes"}
        ).encode()
        # The rest of the body stays unread: this connection cannot carry another request.
        await _answer(send, 413, body, [(b"connection", b"close")])

    async def _shutting_down(self, send: Send) -> None:
        body = b'{"detail":"The service is shutting down; try again shortly"}'
        headers = [(b"retry-after", str(self.retry_after).encode()), (b"connection", b"close")]
        await _answer(send, 503, body, headers)


def _form_or_none(label: bytes | None) -> bool:
    return label is None or label.split(b";")[0].strip().lower() == FORM


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    length = (b"content-length", str(len(body)).encode())
    start_headers = [(b"content-type", JSON), length, *headers]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})
