"""Logs: the demo's format (time:LEVEL:logger:message), colored on a terminal, plain otherwise."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from notes_api.logging import BackgroundHandler, ColorFormatter
from tests.support import ROOT, ServerProcess, free_port

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}:INFO:notes_api\.demo:Connected$")
ANSI = "\x1b["


def record(level: int = logging.INFO) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "notes_api.demo", "levelno": level, "levelname": "INFO", "msg": "Connected"}
    )


def test_plain_format_is_the_demos() -> None:
    assert LINE.match(ColorFormatter(use_colors=False).format(record()))


def test_colored_format_colors_level_and_dims_logger_only() -> None:
    line = ColorFormatter(use_colors=True).format(record())

    assert ":\x1b[32mINFO\x1b[0m:" in line  # green level
    assert ":\x1b[2mnotes_api.demo\x1b[0m:" in line  # dimmed logger name
    assert LINE.match(re.sub(r"\x1b\[\d+m", "", line))


def test_server_logs_in_color_on_a_terminal(database_url: str) -> None:
    # stderr on a pseudo-terminal, as in `make run` from a shell.
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    env |= {"DATABASE_URL": database_url, "PORT": str(free_port())}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "src" / "main.py")],
        cwd=ROOT,
        env=env,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    try:
        deadline = time.monotonic() + 60
        while b"Application startup complete" not in output and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                output += os.read(leader, 65536)
    finally:
        process.terminate()
        process.wait(20)
        os.close(leader)

    text = output.decode(errors="replace")
    assert "Application startup complete" in text
    assert f"{ANSI}32mINFO{ANSI}0m:{ANSI}2muvicorn.error{ANSI}0m:" in text


def test_server_logs_plain_text_to_a_file(server: ServerProcess) -> None:
    assert server.stop() == 0

    log = server.log.read_text()
    assert ANSI not in log
    assert re.search(r"^\d{4}-\d\d-\d\d [\d:,]+:INFO:uvicorn\.error:Application startup", log, re.M)


def test_access_log_can_be_turned_off(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "PORT": str(free_port()), "ACCESS_LOG": "false"}
    quiet = ServerProcess(env, tmp_path / "server.log")
    try:
        quiet.wait_ready()
        assert requests.get(f"{quiet.base}/health", timeout=5).status_code == 200
    finally:
        assert quiet.stop() == 0

    log = quiet.log.read_text()
    assert "Application startup complete" in log
    assert '"GET /health' not in log


def test_records_skip_lookups_the_format_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    handler = BackgroundHandler(io.StringIO(), interval=0.01)
    try:
        with caplog.at_level(logging.INFO, logger="notes_api.demo"):
            logging.getLogger("notes_api.demo").info("Connected")
    finally:
        handler.close()

    (logged,) = caplog.records
    # No stack walk for the caller, no getpid() or thread look-up: the line has none of them.
    assert (logged.funcName, logged.lineno) == ("(unknown function)", 0)
    assert logged.process is None
    assert logged.thread is None
