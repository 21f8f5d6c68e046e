"""The log writer: lines are formatted (log_formats.py) and written by a thread of their own.

Lines are formatted and written by a thread of their own (`BackgroundHandler`), off the event
loop: the access log writes one line per request, and on the loop its formatting, `write` and
`flush` were a large part of a GET /notes/{id}'s time (docs/performance.md, step 8).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from typing import Any, Literal, TextIO, TypeAlias

from colorama import just_fix_windows_console

from notes_api.observability.requests import CURRENT
from notes_api.serving.log_formats import (
    ACCESS_LOGGER,
    AccessItem,
    ColorFormatter,
    JsonLines,
    access_record,
)

# What BackgroundHandler queues: records, and the access log's items.
Queued: TypeAlias = "logging.LogRecord | AccessItem"
LogFormat = Literal["text", "json"]


class BackgroundHandler(logging.Handler):
    """Queues each record; a thread formats what has queued and writes it, every `interval` s.

    On the event loop a record costs a `deque.append`. The thread wakes rarely (a thread that
    woke for every line would take the GIL from the loop thousands of times a second, which
    measured slower than writing in place), formats the waiting records and writes them in one
    `write`. Records leave in the order they came, at most `interval` seconds late; `close()`
    (logging does it at exit, and dictConfig when it replaces the handler) writes what is still
    queued before it returns. A process killed by a signal's default action never gets there:
    src/main.py makes SIGTERM and SIGINT end uvicorn's server processes through Python's exit.
    """

    def __init__(self, stream: TextIO | None = None, interval: float = 0.05) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.interval = interval
        self.records: deque[Queued] = deque()
        self.closing = threading.Event()
        self.writer = threading.Thread(target=self._write_loop, name="log-writer", daemon=True)
        self.writer.start()
        # FORMAT shows no process, thread or process name, nor the file, function and line that
        # logged: do not look them up for each record (`os.getpid()` is a system call, finding
        # the caller walks the stack: docs/performance.md, step 12). See the logging HOWTO,
        # "Optimization".
        logging.logProcesses = False
        logging.logThreads = False
        logging.logMultiprocessing = False
        logging._srcfile = None

    def emit(self, record: logging.LogRecord) -> None:
        # The request being served is known here, on its task, not in the writer's thread.
        if not hasattr(record, "request_id"):
            serving = CURRENT.get()
            record.request_id = record.trace_id = None
            if serving is not None:
                record.request_id, record.trace_id = serving.request_id, serving.trace_id
        self.records.append(record)  # atomic; the thread pops from the other end

    def _write_loop(self) -> None:
        while not self.closing.wait(self.interval):
            self._write_queued()
        self._write_queued()

    def _write_queued(self) -> None:
        lines = []
        while self.records:
            item = self.records.popleft()
            try:
                lines.append(self._line(item) + "\n")
            except Exception:
                self.handleError(as_record(item))
        if lines:
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except Exception:
                self.handleError(as_record(item))  # the last one's, for handleError to show

    def _line(self, item: Queued) -> str:
        if isinstance(item, tuple) and isinstance(self.formatter, ColorFormatter):
            return self.formatter.access_line(*item)
        return self.format(as_record(item))

    def close(self) -> None:
        if not self.closing.is_set():
            self.closing.set()
            self.writer.join()
        super().close()


class AccessLog:
    """uvicorn's access logger, at a fraction of the cost: what protocol.py gives uvicorn instead.

    uvicorn calls `access_logger.info(format, *args)` once per request. Through `logging`, that
    call makes a LogRecord and walks the loggers to the handler, on the event loop
    (docs/performance.md, step 16). Here it puts the time and the arguments in
    the BackgroundHandler's queue, and the writer thread makes the record, among the others: the
    same line, in the same order, flushed at exit like them.
    """

    __slots__ = ("_queue",)

    def __init__(self, handler: BackgroundHandler) -> None:
        self._queue = handler.records

    def info(self, msg: str, *args: object) -> None:
        serving = CURRENT.get()
        if serving is None:
            item: AccessItem = (time.time(), msg, args, None, None)
        else:
            # uvicorn writes the line as the answer starts: the time to the first byte.
            taken = (time.perf_counter() - serving.started) * 1000
            item = (time.time(), msg, args, serving, taken)
        self._queue.append(item)  # atomic, like BackgroundHandler.emit


def access_log_for(logger: logging.Logger) -> AccessLog | None:
    """An AccessLog for `logger` ("uvicorn.access"), when it writes what `logger` would: INFO is
    enabled, no filter on the way, and one BackgroundHandler takes the records. Else None."""
    if not logger.isEnabledFor(logging.INFO):
        return None
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        handlers += current.handlers
        current = current.parent if current.propagate else None
    match handlers:
        case [BackgroundHandler() as handler] if (
            not handler.filters and handler.level <= logging.INFO
        ):
            return AccessLog(handler)
    return None


def as_record(item: Queued) -> logging.LogRecord:
    return item if isinstance(item, logging.LogRecord) else access_record(*item)


def log_config(
    level: str, *, access_log: bool = True, log_format: LogFormat = "text"
) -> dict[str, Any]:
    """A `logging.config.dictConfig` for our loggers and uvicorn's, handed to uvicorn."""
    just_fix_windows_console()
    upper = level.upper()
    formatter = ColorFormatter if log_format == "text" else JsonLines
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "default": {
                "()": BackgroundHandler,
                "formatter": "default",
                "stream": "ext://sys.stderr",
            },
        },
        "root": {"handlers": ["default"], "level": upper},
        "loggers": {
            # uvicorn's loggers propagate to the root handler, so they share the format.
            "uvicorn": {"handlers": [], "level": upper, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": upper, "propagate": True},
            # Alembic announces each of its plugins at INFO; its migration lines are worth keeping.
            "alembic": {"handlers": [], "level": "WARNING", "propagate": True},
            "alembic.runtime.migration": {"handlers": [], "level": upper, "propagate": True},
            ACCESS_LOGGER: {
                "handlers": [],
                "level": "INFO" if access_log else "WARNING",
                "propagate": True,
            },
        },
    }
