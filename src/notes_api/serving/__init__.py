"""The HTTP-serving machinery: what makes the service fast and hard to knock over, beneath the
app. Skip this folder on a first read.

- protocol.py  uvicorn's HTTP protocols, with limits.py's limits on receiving a request (408,
               431) and a draining shutdown: every reach into uvicorn
- limits.py    how long a request may take to arrive, and how large its head may be
- guards.py    one ASGI middleware: request IDs and metrics (observability/), security
               headers, the body limit (413), the shutdown cut-off (503), lenient JSON
- logs.py      the demo's log format, written by a thread of its own; the access log
- responses.py rows answered as JSON by orjson, skipping a second validation
- conditions.py  ETags from versions; If-Match and If-None-Match read (RFC 9110)
- preferences.py the Prefer header read (RFC 7240)
- routing.py   routers' routes added to the app itself; 405 with `Allow` for other methods
- api_docs.py  /docs and /redoc, with Swagger UI and ReDoc served by the service

The answers to failures they give come from notes_api/errors.py, like every other.
"""
