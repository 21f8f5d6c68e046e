"""ASGI middleware of our own: one layer, `Guards`, for what every HTTP request goes through.

Each ASGI layer costs every request a call, a wrapped `send`, and a frame that every wake-up of
the request's task walks through, whether or not it has anything to do; four separate layers cost
a GET /notes/{id} several percent of its time (docs/performance.md, step 6), and request IDs and
metrics in a layer of their own 2% more (docs/performance.md, "The cost of observability").
`Guards` does all their jobs in one pass over the request headers and one wrapped `send`, each job
a named step.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notes_api.errors import SHUTTING_DOWN, Failure, body_too_large
from notes_api.observability import metrics
from notes_api.observability.requests import CURRENT, HEADER, Serving, request_id_of

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
    """Five steps, in the order they nest:

    0. The request's ID and metrics (observability/): its ID, the client's X-Request-ID if sane
       or a new one, set in `CURRENT` for whatever runs while the request is served (its log
       lines) and added to its answer; with `served` (METRICS=true, the default), the request
       counted in progress, then counted by method, route template and status, and timed.
       Outermost, so that every answer, the refusals below included, carries the ID and is
       counted.
    1. `Answer`: security headers, and the ID, on every answer, the others' answers included; a
       security header the app set itself is kept.
    2. `cut_off`: after SIGTERM, uvicorn lets requests in flight run for SHUTDOWN_TIMEOUT seconds,
       then cancels them. One cancelled before it started its answer gets 503 and `Retry-After`,
       not uvicorn's 500: the client did nothing wrong and may retry, against another instance or
       this one once restarted.
    3. `limit_body`, for the methods whose body the app reads (POST, PUT, PATCH; uvicorn stops
       reading a body nobody reads): a declared Content-Length over `max_body_size` is refused
       (413) without reading a byte. Otherwise the body is read here, chunk by chunk, and refused
       as soon as it passes the limit (a chunked upload declares no length); a body within the
       limit is handed on as received. A request with neither Content-Length nor
       Transfer-Encoding has no body (HTTP/1.1), so nothing is read.
    4. `as_json`: `curl --data '{"text": "Test"}'` labels its body form-encoded, and FastAPI
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
        lenient_json: bool,
        served: metrics.Served | None,
    ) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.lenient_json = lenient_json
        self.served = served

    # One coroutine, its steps inline rather than awaited helpers: every time the request's task
    # wakes up (3 or 4 times for a read), the await chain is walked through each frame in it.
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        serving = Serving(request_id_of(scope["headers"]), time.perf_counter())
        token = CURRENT.set(serving)
        served = self.served
        if served is not None:
            served.in_progress += 1
        answering = Answer(send, serving.request_id.encode("ascii"))
        try:
            if scope["method"] in BODY_METHODS:  # the only requests whose body the app reads
                length, has_body, label = body_headers(scope)
                within_limit = await self.limit_body(length, has_body, receive, answering)
                if within_limit is None:
                    return  # answered 413
                inner, receive = self.as_json(scope, label), within_limit
                try:
                    await self.app(inner, receive, answering)
                finally:
                    # Starlette notes the route that matched in the scope it was given: in the
                    # copy, if as_json made one; step 0 reads it in this one.
                    if "route" in inner:
                        scope["route"] = inner["route"]
            else:
                await self.app(scope, receive, answering)
        except asyncio.CancelledError:
            if answering.status is not None:
                raise
            await self.cut_off(answering)  # the task ends here, answered
        finally:
            CURRENT.reset(token)
            if served is not None:
                served.in_progress -= 1
                # Starlette puts the route that matched in the scope; its path is the template.
                route = scope.get("route")
                served.count(
                    scope["method"],
                    metrics.UNMATCHED if route is None else route.path,
                    # None: the app ended without an answer, and uvicorn answers 500.
                    500 if answering.status is None else answering.status,
                    time.perf_counter() - serving.started,
                )

    async def limit_body(
        self, length: bytes | None, has_body: bool, receive: Receive, send: Send
    ) -> Receive | None:
        """A `receive` that hands on the body read within the limit; None after a 413."""
        if length is not None and (not length.isdigit() or int(length) > self.max_body_size):
            await self._too_large(send)
            return None
        if not has_body:
            return receive
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

    def as_json(self, scope: Scope, label: bytes | None) -> Scope:
        """The scope, its body labelled JSON if it came form-encoded or unlabelled (lenient)."""
        if not self.lenient_json:
            return scope
        if label is not None and label.split(b";")[0].strip().lower() != FORM:
            return scope
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        return dict(scope, headers=[*headers, (b"content-type", JSON)])

    async def cut_off(self, send: Send) -> None:
        metrics.UNAVAILABLE.labels("shutting_down").inc()
        await answer(send, SHUTTING_DOWN)

    async def _too_large(self, send: Send) -> None:
        # The rest of the body stays unread: this connection cannot carry another request.
        await answer(send, body_too_large(self.max_body_size))


class Answer:
    """`send`, adding the security headers and X-Request-ID to the answer's start; its `status`
    once it has started."""

    __slots__ = ("_id", "_send", "status")

    def __init__(self, send: Send, request_id: bytes) -> None:
        self._send = send
        self._id = request_id
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = message.get("headers", [])
            present = {name for name, _ in headers}  # ASGI's header names are lowercase
            added = [h for h in API_HEADERS if h[0] not in present]
            # A new list (the app's left as it was) in the app's message: Starlette's middleware
            # change messages in place too.
            message["headers"] = [*headers, *added, (HEADER, self._id)]
        await self._send(message)


def body_headers(scope: Scope) -> tuple[bytes | None, bool, bytes | None]:
    """Content-Length, whether a body follows (a length or a Transfer-Encoding), Content-Type."""
    length = label = None
    has_body = False
    for key, value in scope["headers"]:
        if key == b"content-length":
            length = length if length is not None else value
            has_body = True
        elif key == b"transfer-encoding":
            has_body = True
        elif key == b"content-type":
            label = label if label is not None else value
    return length, has_body, label


async def answer(send: Send, failure: Failure) -> None:
    """Send `failure`'s answer, and close the connection after it."""
    body = failure.body()
    headers = [(b"content-type", JSON), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in failure.headers.items()]
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": failure.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
