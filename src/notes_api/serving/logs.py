"""The demo's log format (time, level, logger, message): colored on a terminal, plain otherwise.

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
from typing import Any, ClassVar, TextIO, TypeAlias

from colorama import Fore, Style, just_fix_windows_console

FORMAT = "%(asctime)s:%(levelname)s:%(name)s:%(message)s"
ACCESS_LOGGER = "uvicorn.access"
# What BackgroundHandler queues: records, and the access log's (time, format, arguments).
Queued: TypeAlias = "logging.LogRecord | tuple[float, str, tuple[object, ...]]"


class ColorFormatter(logging.Formatter):
    """Colors the level name, and dims the logger name, when the stream is a terminal."""

    COLORS: ClassVar[dict[int, str]] = {
        logging.DEBUG: Fore.CYAN,
        logging.INFO: Fore.GREEN,
        logging.WARNING: Fore.YELLOW,
        logging.ERROR: Fore.RED,
        logging.CRITICAL: Fore.RED + Style.BRIGHT,
    }

    def __init__(self, fmt: str = FORMAT, *, use_colors: bool | None = None) -> None:
        super().__init__(fmt)
        self.use_colors = sys.stderr.isatty() if use_colors is None else use_colors
        self._second: tuple[int, str] = (-1, "")  # a second, and its date and time as text
        # What FORMAT puts between an access line's time and its message (see access_line);
        # None with a format of one's own.
        self._access_prefix: str | None = None
        if fmt == FORMAT:
            template = access_record(0.0, "", ())
            template.asctime = template.message = ""
            self._access_prefix = self.formatMessage(template)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """As logging's, but the date and time of a second are made into text once: the log
        writer formats the lines of a second together."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self._asctime(record.created, int(record.msecs))

    def _asctime(self, created: float, msecs: int) -> str:
        second, text = self._second
        if second != int(created):
            second = int(created)
            text = time.strftime(self.default_time_format, self.converter(created))
            self._second = (second, text)  # one assignment: another thread sees both or neither
        return f"{text},{msecs:03d}"  # as logging.Formatter.default_msec_format

    def access_line(self, created: float, msg: str, args: tuple[object, ...]) -> str:
        """The access log's line (AccessLog), as `format` writes the record logging would make
        for it (`access_record`), but without making one: the writer thread writes thousands a
        second, and the record and `Formatter.format` were most of a line's cost
        (docs/performance.md, step 20)."""
        if self._access_prefix is None:
            return self.format(access_record(created, msg, args))
        return f"{self._asctime(created, msecs_of(created))}{self._access_prefix}{msg % args}"

    def formatMessage(self, record: logging.LogRecord) -> str:
        if not self.use_colors:
            return super().formatMessage(record)
        color = self.COLORS.get(record.levelno, "")
        # Color a copy: other handlers format the same record.
        colored = logging.makeLogRecord(record.__dict__)
        colored.levelname = f"{color}{record.levelname}{Style.RESET_ALL}"
        colored.name = f"{Style.DIM}{record.name}{Style.RESET_ALL}"
        return super().formatMessage(colored)


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
        self._queue.append((time.time(), msg, args))  # atomic, like BackgroundHandler.emit


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


def access_record(created: float, msg: str, args: tuple[object, ...]) -> logging.LogRecord:
    """The record `logging` would have made for the access line, at the time it was asked for:
    a copy of one made once, as `logging.makeLogRecord` makes them, but without running
    LogRecord's constructor again (its look-ups are for fields FORMAT does not show)."""
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__.update(ACCESS_TEMPLATE)
    record.msg, record.args, record.created = msg, args, created
    record.msecs = msecs_of(created) + 0.0
    return record


def msecs_of(created: float) -> int:
    """The milliseconds of a time, as LogRecord reckons them for `%(msecs)`."""
    return int((created - int(created)) * 1000)


ACCESS_TEMPLATE = vars(logging.LogRecord(ACCESS_LOGGER, logging.INFO, "", 0, "", (), None))


def log_config(level: str, *, access_log: bool = True) -> dict[str, Any]:
    """A `logging.config.dictConfig` for our loggers and uvicorn's, handed to uvicorn."""
    just_fix_windows_console()
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": ColorFormatter}},
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
