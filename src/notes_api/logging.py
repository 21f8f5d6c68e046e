"""The demo's log format (time, level, logger, message): colored on a terminal, plain otherwise."""

from __future__ import annotations

import logging
import sys
from typing import Any, ClassVar

from colorama import Fore, Style, just_fix_windows_console

FORMAT = "%(asctime)s:%(levelname)s:%(name)s:%(message)s"


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

    def formatMessage(self, record: logging.LogRecord) -> str:
        if not self.use_colors:
            return super().formatMessage(record)
        color = self.COLORS.get(record.levelno, "")
        # Color a copy: other handlers format the same record.
        colored = logging.makeLogRecord(record.__dict__)
        colored.levelname = f"{color}{record.levelname}{Style.RESET_ALL}"
        colored.name = f"{Style.DIM}{record.name}{Style.RESET_ALL}"
        return super().formatMessage(colored)


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
                "class": "logging.StreamHandler",
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
            "uvicorn.access": {
                "handlers": [],
                "level": "INFO" if access_log else "WARNING",
                "propagate": True,
            },
        },
    }
