"""GET /metrics: what Prometheus scrapes. Not in the OpenAPI document (it is for the operator, not
the API's clients); METRICS=false leaves it out, and docs/observability.md says how to keep it off
the public internet."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from notes_api.observability import metrics


async def metrics_page(request: Request) -> Response:
    request.state.watched.sample()  # all counted so far, the pools as of now (sampled.py)
    body, content_type = metrics.scrape()
    return Response(body, headers={"Content-Type": content_type})
