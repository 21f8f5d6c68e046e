"""How a log line reads: the demo's text (time:LEVEL:logger:message), colored on a terminal, or,
with LOG_FORMAT=json, one JSON object per line for log shippers (Loki, Elasticsearch, CloudWatch).

A line written while a request was served carries its ID (observability/requests.py): at the end of
the text line (` request_id=...`), as a field of the JSON one; with tracing on, the trace's too.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeAlias

from colorama import Fore, Style
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from notes_api.observability.requests import Serving, suffix

FORMAT = "%(asctime)s:%(levelname)s:%(name)s:%(message)s"
ACCESS_LOGGER = "uvicorn.access"
# The access log's line as queued (logs.AccessLog): time, format, arguments, request ID,
# milliseconds taken.
AccessItem: TypeAlias = "tuple[float, str, tuple[object, ...], Serving | None, float | None]"


class ColorFormatter(logging.Formatter):
    """Colors the level name, and dims the logger name, when the stream is a terminal. A line
    written while a request was served ends with its IDs: ` request_id=... [trace_id=...]`."""

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
            template = access_record(0.0, "", (), None, None)
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

    def access_line(
        self,
        created: float,
        msg: str,
        args: tuple[object, ...],
        serving: Serving | None,
        duration_ms: float | None,
    ) -> str:
        """The access log's line (AccessLog), as `format` writes the record logging would make
        for it (`access_record`), but without making one: the writer thread writes thousands a
        second, and the record and `Formatter.format` were most of a line's cost
        (docs/performance.md, step 20)."""
        if self._access_prefix is None:
            return self.format(access_record(created, msg, args, serving, duration_ms))
        line = f"{self._asctime(created, msecs_of(created))}{self._access_prefix}{msg % args}"
        return line if serving is None else line + suffix(serving.request_id, serving.trace_id)

    def formatMessage(self, record: logging.LogRecord) -> str:
        ids = suffix(getattr(record, "request_id", None), getattr(record, "trace_id", None))
        if not self.use_colors:
            return super().formatMessage(record) + ids
        color = self.COLORS.get(record.levelno, "")
        # Color a copy: other handlers format the same record.
        colored = logging.makeLogRecord(record.__dict__)
        colored.levelname = f"{color}{record.levelname}{Style.RESET_ALL}"
        colored.name = f"{Style.DIM}{record.name}{Style.RESET_ALL}"
        return super().formatMessage(colored) + ids


class JsonLines(JsonFormatter):
    """LOG_FORMAT=json: `time` (ISO 8601, UTC), `level`, `logger`, `message`, `request_id` (null
    outside a request), and for the access log's lines `method`, `path`, `status`,
    `duration_ms` (until the answer began) and `client`; `exc_info` with a traceback, and any
    `extra=` a caller gave (python-json-logger's)."""

    def __init__(self) -> None:
        # Ours are set in add_fields; uvicorn's `color_message` is its message with color codes.
        ours = ("request_id", "trace_id", "duration_ms", "color_message")
        super().__init__(reserved_attrs=[*RESERVED_ATTRS, *ours])

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data["request_id"] = getattr(record, "request_id", None)
        if (trace_id := getattr(record, "trace_id", None)) is not None:
            log_data["trace_id"] = trace_id
        if record.name == ACCESS_LOGGER and isinstance(record.args, tuple):
            # uvicorn's arguments for its line: client, method, path, HTTP version, status.
            client, method, path, _, status = record.args
            log_data |= {"method": method, "path": path, "status": status}
            duration_ms = getattr(record, "duration_ms", None)
            log_data["duration_ms"] = None if duration_ms is None else round(duration_ms, 3)
            log_data["client"] = client
        super().add_fields(log_data, record, message_dict)


def access_record(
    created: float,
    msg: str,
    args: tuple[object, ...],
    serving: Serving | None,
    duration_ms: float | None,
) -> logging.LogRecord:
    """The record `logging` would have made for the access line, at the time it was asked for:
    a copy of one made once, as `logging.makeLogRecord` makes them, but without running
    LogRecord's constructor again (its look-ups are for fields FORMAT does not show)."""
    record = logging.LogRecord.__new__(logging.LogRecord)
    record.__dict__.update(ACCESS_TEMPLATE)
    record.msg, record.args, record.created = msg, args, created
    record.msecs = msecs_of(created) + 0.0
    record.duration_ms = duration_ms
    record.request_id = record.trace_id = None
    if serving is not None:
        record.request_id, record.trace_id = serving.request_id, serving.trace_id
    return record


def msecs_of(created: float) -> int:
    """The milliseconds of a time, as LogRecord reckons them for `%(msecs)`."""
    return int((created - int(created)) * 1000)


ACCESS_TEMPLATE = vars(logging.LogRecord(ACCESS_LOGGER, logging.INFO, "", 0, "", (), None))
