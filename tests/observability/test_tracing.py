"""OpenTelemetry tracing (observability/tracing.py), with the SDK's in-memory exporter: a span per
request, continuing a caller's trace, a child span per query, the trace's ID in the log lines; and
nothing of the tracing group loaded when OTEL_EXPORTER_OTLP_ENDPOINT is unset."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from notes_api.app import create_app
from notes_api.config import Settings
from notes_api.observability.tracing import request_spans
from notes_api.serving.log_formats import ColorFormatter
from notes_api.serving.logs import BackgroundHandler
from tests.support import ROOT

pytest.importorskip("opentelemetry.sdk", reason="needs the tracing group: make tracing")

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def traced(
    settings: Settings, clean_notes: None
) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    with TestClient(create_app(settings, spans=request_spans(None, exporter))) as client:
        yield client, exporter


def test_a_request_is_a_span_with_a_child_span_per_query(
    traced: tuple[TestClient, InMemorySpanExporter],
) -> None:
    client, exporter = traced
    created = client.post("/notes", json={"text": "traced"}).json()
    exporter.clear()

    answer = client.get(f"/notes/{created['id']}")

    spans = exporter.get_finished_spans()
    (request,) = [span for span in spans if span.kind is SpanKind.SERVER]
    queries = [span for span in spans if span.kind is SpanKind.CLIENT]
    assert answer.status_code == 200
    assert request.name == "GET /notes/{note_id}"
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/notes/{note_id}"
    assert request.attributes["http.response.status_code"] == 200
    assert len(queries) == 1
    assert all(query.parent is not None for query in queries)
    assert {query.parent.span_id for query in queries if query.parent} == {request.context.span_id}
    assert "SELECT" in str(queries[0].attributes)


def test_a_callers_trace_goes_on(traced: tuple[TestClient, InMemorySpanExporter]) -> None:
    client, exporter = traced
    caller = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"
    client.get("/notes", headers={"traceparent": caller})

    request = server_span(exporter.get_finished_spans())
    assert format(request.context.trace_id, "032x") == CALLER_TRACE


def test_the_trace_id_is_in_the_log_lines(settings: Settings, clean_notes: None) -> None:
    exporter = InMemorySpanExporter()
    app = create_app(settings, spans=request_spans(None, exporter))

    @app.get("/speak")
    async def speak() -> dict[str, str]:
        logging.getLogger("notes_api.demo").warning("Spoke")
        return {}

    stream = io.StringIO()
    handler = BackgroundHandler(stream, interval=0.01)
    handler.setFormatter(ColorFormatter(use_colors=False))
    logger = logging.getLogger("notes_api.demo")
    logger.addHandler(handler)
    try:
        with TestClient(app) as client:
            client.get("/speak", headers={"X-Request-ID": "traced-1"})
    finally:
        logger.removeHandler(handler)
        handler.close()

    trace_id = format(server_span(exporter.get_finished_spans()).context.trace_id, "032x")
    assert stream.getvalue().endswith(f":Spoke request_id=traced-1 trace_id={trace_id}\n")


def test_without_an_endpoint_nothing_of_the_tracing_group_is_loaded() -> None:
    # FastAPI imports OpenTelemetry's API (fastapi.telemetry); the app turns FastAPI's own
    # telemetry off (the next test).
    ours = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation")
    program = (
        "import sys; from notes_api.app import create_app; from notes_api.config import Settings;"
        "create_app(Settings(_env_file=None));"
        f"print(sorted(m for m in sys.modules if m.startswith({ours!r})))"
    )
    assert printed_by(program) == "[]"


def test_fastapis_own_telemetry_stays_off_where_a_process_wide_provider_is_set() -> None:
    # As opentelemetry-instrument or FASTAPI_OTEL_AUTO_CONFIGURE set them: FastAPI's own spans and
    # metrics would be a second trace of each request, apart from the service's. In a process of
    # its own, since a process-wide provider cannot be unset.
    program = """
from fastapi.testclient import TestClient
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from notes_api.app import create_app
from notes_api.config import Settings

spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tracer_provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
client = TestClient(create_app(Settings(_env_file=None)))
statuses = [client.get(path).status_code for path in ("/openapi.json", "/nowhere")]
data = reader.get_metrics_data()
print(statuses, len(spans.get_finished_spans()), len(data.resource_metrics) if data else 0)
"""
    assert printed_by(program) == "[200, 404] 0 0"  # statuses, spans, metrics


def printed_by(program: str) -> str:
    """What `program` prints, run by a Python of its own, with none of the environment's OTEL_*."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")}
    ran = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    return ran.stdout.strip()


def server_span(spans: tuple[ReadableSpan, ...]) -> ReadableSpan:
    (request,) = [span for span in spans if span.kind is SpanKind.SERVER]
    return request
