"""Which request is being served: its ID (X-Request-ID) and when it began, for the log lines and
metrics written while it is served.

The ID is the client's, or a proxy's, when it is a sane token: 1 to 128 visible ASCII characters.
Anything else is replaced, not refused: a request is not wrong for carrying a strange ID, but the
ID goes into every log line and answer, where a newline or a megabyte of it would do harm. A
request without one gets one made here, unique (128 random bits).

The app's one middleware (serving/guards.py) sets `CURRENT` for the request's task. Whatever runs
in it (the route, the data layer, uvicorn's access log) reads it there; the log writer is another
thread, so a log record takes the ID along when it is made (serving/logs.py).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from random import getrandbits
from typing import NamedTuple

HEADER = b"x-request-id"
SANE = re.compile(rb"[\x21-\x7e]{1,128}")


class Serving(NamedTuple):
    request_id: str
    started: float  # time.perf_counter() when the app was handed the request
    trace_id: str | None = None  # with tracing on (tracing.py), the request's trace


CURRENT: ContextVar[Serving | None] = ContextVar("notes_api_request", default=None)


def new_request_id() -> str:
    # An ID need be unique, not secret: 128 bits of `random`'s generator (seeded from the OS, and
    # again in each forked process) cost a quarter of os.urandom's system call.
    return getrandbits(128).to_bytes(16).hex()


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's X-Request-ID if it is sane, else a new one."""
    for name, value in headers:
        if name == HEADER:
            if SANE.fullmatch(value):
                return value.decode("ascii")
            break
    return new_request_id()


def suffix(request_id: str | None, trace_id: str | None) -> str:
    """What ends a text log line written while serving a request: its IDs."""
    if request_id is None:
        return ""
    if trace_id is None:
        return f" request_id={request_id}"
    return f" request_id={request_id} trace_id={trace_id}"
