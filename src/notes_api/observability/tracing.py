"""OpenTelemetry tracing, when OTEL_EXPORTER_OTLP_ENDPOINT is set and the `tracing` group is
installed (`make tracing`): a span per request, a child span per database query, and the trace's
ID in the log lines. Unset, nothing of OpenTelemetry is imported.

The request's span continues the trace a `traceparent` header names (W3C Trace Context), so a
trace goes on from a caller that traces too. The queries' spans are opentelemetry-instrumentation-
asyncpg's, made by asyncpg's connections (which it patches, for the process, while the app runs).
The spans go to the OTLP/HTTP endpoint; the SDK reads the rest of its OTEL_* variables
(OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME...) itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notes_api import __version__
from notes_api.observability.requests import CURRENT

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter


class RequestSpans:
    """The spans of the requests, made by `provider`'s tracer."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        self.provider = provider
        self.tracer = provider.get_tracer("notes_api", __version__)
        self._queries = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]

    def open(self) -> None:
        """For the app's lifespan: the queries' spans from now on."""
        self._queries.instrument(tracer_provider=self.provider)

    def close(self) -> None:
        """Stop making the queries' spans, and send the spans not sent yet."""
        self._queries.uninstrument()
        self.provider.shutdown()

    @contextmanager
    def span(self, scope: Scope, status: StatusSend) -> Iterator[str]:
        """The request's span, current while the block runs; yields its trace's ID. `status`: the
        answer's, read once the block is done."""
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind, StatusCode

        method = scope["method"]
        carrier = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        attributes = {"http.request.method": method, "url.path": scope["path"]}
        with self.tracer.start_as_current_span(
            method, context=extract(carrier), kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            try:
                yield format(span.get_span_context().trace_id, "032x")
            finally:
                route = scope.get("route")
                if route is not None:
                    span.update_name(f"{method} {route.path}")
                    span.set_attribute("http.route", route.path)
                span.set_attribute("http.response.status_code", status.status)
                if status.status >= 500:
                    span.set_status(StatusCode.ERROR)


class Traced:
    """The ASGI layer just inside serving/guards.py's Guards, which sets the request's ID; there
    only with tracing on: each request served in its span, and the span's trace ID added to the
    request's IDs (requests.CURRENT) for the log lines. Guards' own refusals (413, the 503 of a
    shutdown) are answered before it: counted and logged, not traced."""

    def __init__(self, app: ASGIApp, *, spans: RequestSpans) -> None:
        self.app = app
        self.spans = spans

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        serving = CURRENT.get()
        if scope["type"] != "http" or serving is None:
            await self.app(scope, receive, send)
            return
        answer = StatusSend(send)
        with self.spans.span(scope, answer) as trace_id:
            token = CURRENT.set(serving._replace(trace_id=trace_id))
            try:
                await self.app(scope, receive, answer)
            finally:
                CURRENT.reset(token)


class StatusSend:
    """`send`, noting the answer's status (500 if the app ended without one: uvicorn answers 500
    then)."""

    __slots__ = ("_send", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


def request_spans(
    endpoint: str | None, exporter: SpanExporter | None = None
) -> RequestSpans | None:
    """RequestSpans sending to `endpoint` (OTLP over HTTP), or to `exporter`; None when neither is
    given: then no span is made, and OpenTelemetry is not imported."""
    if endpoint is None and exporter is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": "notes-api", "service.version": __version__})
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The SDK reads the endpoint, and its headers, from the environment.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return RequestSpans(provider)
