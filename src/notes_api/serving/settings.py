"""How the service is served: where it listens, its processes, its log, and its limits on
requests. Part of the service's Settings (config.py), which reads them from the environment;
docs/configuration.md says what each one does."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class ServingSettings(BaseSettings):
    """HOST, PORT, the processes, the log, and the limits on a request."""

    host: str = Field(default="127.0.0.1", description="Interface the API listens on.")
    port: int = Field(default=5000, ge=1, le=65535, description="TCP port the API listens on.")
    reload: bool = Field(
        default=False, description="Restart the server when a source file changes."
    )
    workers: int = Field(default=1, ge=1, le=64, description="Server processes sharing the port.")
    shutdown_timeout: int = Field(
        default=5,
        ge=0,
        description="Seconds requests in flight get to finish after SIGTERM.",
    )
    shutdown_drain: float = Field(
        default=0,
        ge=0,
        description=(
            "Behind a load balancer: seconds an idle kept-alive connection stays open after "
            "SIGTERM, so that the balancer notices the instance going before a request it sends "
            "is left unanswered. Above its health checks' detection time, below SHUTDOWN_TIMEOUT."
        ),
    )
    log_level: LogLevel = Field(default="info", description="Lowest level of log lines shown.")
    access_log: bool = Field(default=True, description="One log line per request.")
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`text`: the demo's lines, colored on a terminal. `json`: one object per line.",
    )
    metrics: bool = Field(
        default=True,
        description="Serve Prometheus metrics at /metrics (docs/observability.md).",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description=(
            "Send OpenTelemetry traces to this OTLP/HTTP collector (http://host:4318); needs "
            "the tracing group (`make tracing`). Unset: no tracing."
        ),
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description=(
            "Proxies (comma-separated IPs, or *) trusted to set X-Forwarded-For/-Proto. "
            "Unset: those headers are ignored."
        ),
    )
    lenient_content_type: bool = Field(
        default=True,
        description="Read bodies sent form-encoded (as `curl --data` does) or unlabelled as JSON.",
    )
    max_body_size: int = Field(
        default=64 * 1024, ge=1, description="Largest request body accepted, in bytes (else 413)."
    )
    max_header_size: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Largest request line and headers together, in bytes (else 431).",
    )
    request_timeout: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Seconds a client has to send a whole request (line, headers, body) from its first "
            "byte (else 408, and the connection is closed). The answer's time is not counted."
        ),
    )
    limit_concurrency: int = Field(
        default=500,
        ge=1,
        description=(
            "Connections (or requests) a server process serves at once; past it, new requests "
            "get 503. Keep it under `ulimit -n`."
        ),
    )
    http_parser: Literal["httptools", "h11"] = Field(
        default="httptools",
        description="uvicorn's HTTP parser: httptools (fast, C), or h11 (pure Python).",
    )

    @model_validator(mode="after")
    def _drain_within_timeout(self) -> ServingSettings:
        if self.shutdown_drain and self.shutdown_drain >= self.shutdown_timeout:
            raise ValueError("SHUTDOWN_DRAIN must be below SHUTDOWN_TIMEOUT")
        return self
