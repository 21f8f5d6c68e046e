"""`Observe`, the outermost ASGI layer: each request's ID, its metrics, and its span when tracing.

Outermost, so that it sees every answer the app sends, the refusals of serving/guards.py (413,
the 503 of a shutdown) and CORS' included: each carries `X-Request-ID`, and is counted.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notes_api.observability import metrics
from notes_api.observability.requests import CURRENT, HEADER, Serving, request_id_of

if TYPE_CHECKING:
    from notes_api.observability.tracing import RequestSpans

# Methods a request may name; any other is counted as "other", so that a client inventing methods
# cannot make a series for each (serving/routing.py refuses them all with 405).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})


class Observe:
    """Sets the request's ID (requests.py) for what runs while it is served, adds it to the answer,
    and counts the request by method, route template and status, with its duration. With
    `spans` (tracing.py), the request is traced too."""

    def __init__(
        self, app: ASGIApp, *, metrics_on: bool, spans: RequestSpans | None = None
    ) -> None:
        self.app = app
        self.metrics_on = metrics_on
        self.spans = spans
        # Each label set's children, found once: prometheus-client's `labels()` checks and locks.
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        started = time.perf_counter()
        answer = IdentifiedSend(send, request_id.encode("ascii"))
        if self.spans is not None:
            with self.spans.span(scope, answer) as trace_id:
                await self._serve(scope, receive, answer, Serving(request_id, started, trace_id))
        else:
            await self._serve(scope, receive, answer, Serving(request_id, started))

    async def _serve(
        self, scope: Scope, receive: Receive, answer: IdentifiedSend, serving: Serving
    ) -> None:
        token = CURRENT.set(serving)
        if not self.metrics_on:
            try:
                await self.app(scope, receive, answer)
            finally:
                CURRENT.reset(token)
            return
        metrics.IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, answer)
        finally:
            metrics.IN_PROGRESS.dec()
            CURRENT.reset(token)
            self._count(scope, answer.status, time.perf_counter() - serving.started)

    def _count(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else "other"
        # Starlette puts the route that matched in the scope; its path is the template.
        route = scope.get("route")
        template = (
            getattr(route, "path", metrics.UNMATCHED) if route is not None else metrics.UNMATCHED
        )
        timed = self._timed.get((method, template))
        if timed is None:
            timed = self._timed[method, template] = metrics.LATENCY.labels(method, template)
        timed.observe(seconds)
        counted = self._counted.get((method, template, status))
        if counted is None:
            counted = metrics.REQUESTS.labels(method, template, str(status))
            self._counted[method, template, status] = counted
        counted.inc()


class IdentifiedSend:
    """`send`, adding X-Request-ID to the answer's start; `status` once it is known (500 if the
    app ended without an answer: uvicorn answers 500 then)."""

    __slots__ = ("_id", "_send", "status")

    def __init__(self, send: Send, request_id: bytes) -> None:
        self._send = send
        self._id = request_id
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message = {**message, "headers": [*message.get("headers", ()), (HEADER, self._id)]}
        await self._send(message)
