"""What an operator sees of the running service: each request's ID, its metrics, and the JSON log
format's fields. Skip it on a first read: the notes never import it.

- requests.py    the request being served: its X-Request-ID, and when it began (set, echoed on
                 the answer and counted by the app's one middleware, serving/guards.py)
- metrics.py     the metrics (prometheus-client), and their text for a scrape
- tallies.py     histograms counted as plain numbers, handed to prometheus-client in bulk
- sampled.py     the metrics brought up to date once a second and at each scrape
- tracing.py     OpenTelemetry spans, when OTEL_EXPORTER_OTLP_ENDPOINT is set
- page.py        GET /metrics
"""
