"""What one access log line costs, piece by piece: on the event loop, and in the log writer.

    python bench/log_line.py [--lines 100000]

No server and no database: each piece runs `--lines` times in a loop, best of five (a machine
shared with other work only ever adds time). On the loop, uvicorn works out the line's arguments
(`get_client_addr`, `get_path_with_query_string`) and hands them to `logging.AccessLog.info`; in
the writer's thread, each queued line becomes text, through the record `logging` would make and
`Formatter.format` (what the writer did before step 20 of docs/performance.md), or through
`ColorFormatter.access_line` (what it does now).
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from typing import Any

# What uvicorn's protocols call for each access line, the cost this bench times: a module uvicorn
# does not document, held by pyproject.toml's bound on uvicorn until the next release is tried.
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from notes_api.observability.requests import Serving
from notes_api.serving.log_formats import ColorFormatter, access_record
from notes_api.serving.logs import AccessLog, BackgroundHandler

# What uvicorn's httptools protocol logs for a GET /notes/{id} (uvicorn.protocols.http).
FORMAT = '%s - "%s %s HTTP/%s" %d'
SERVING = Serving("9f2c4e1a7b3d4c5e8f6a0b1c2d3e4f5a", 0.0)  # an ID as requests.py makes them
# The whole scope that protocol makes for that request, every key the ASGI spec names, not only
# the ones the access line reads today: uvicorn 0.55 takes the line's path from `raw_path` where
# 0.54 quoted `path` again, and a scope with only what one version read broke on the next.
SCOPE: Any = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "server": ("127.0.0.1", 5000),
    "client": ("127.0.0.1", 51234),
    "scheme": "http",
    "method": "GET",
    "root_path": "",
    "path": "/notes/1234",
    "raw_path": b"/notes/1234",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1:5000"), (b"accept", b"*/*")],
    "state": {},
}


def best_of_five(lines: int, run: Callable[[], object]) -> float:
    """µs per line of the fastest of five runs of `run`, which does `lines` of them."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    lines = parser.parse_args().lines

    handler = BackgroundHandler(io.StringIO(), interval=3600)  # its thread never writes here
    formatter = ColorFormatter(use_colors=False)
    handler.setFormatter(formatter)
    access_log = AccessLog(handler)
    arguments = ("127.0.0.1:51234", "GET", "/notes/1234", "1.1", 200)
    queued = [(time.time(), FORMAT, arguments, SERVING, 1.5)] * lines

    def uvicorn_arguments() -> None:
        for _ in range(lines):
            (get_client_addr(SCOPE), get_path_with_query_string(SCOPE), SCOPE["http_version"])

    def queue() -> None:
        for _ in range(lines):
            access_log.info(FORMAT, *arguments)
        handler.records.clear()

    def through_a_record() -> None:
        for item in queued:
            formatter.format(access_record(*item))

    def from_its_parts() -> None:
        for item in queued:
            formatter.access_line(*item)

    pieces = {
        "on the event loop": {
            "uvicorn's arguments": uvicorn_arguments,
            "AccessLog.info (queued)": queue,
        },
        "in the log writer's thread": {
            "a LogRecord, Formatter.format": through_a_record,
            "ColorFormatter.access_line": from_its_parts,
        },
    }
    try:
        print(f"µs per access line, best of 5 runs of {lines}:")
        for where, runs in pieces.items():
            print(f"  {where}")
            for name, run in runs.items():
                print(f"    {name:<35} {best_of_five(lines, run):5.2f}")
    finally:
        handler.close()


if __name__ == "__main__":
    main()
