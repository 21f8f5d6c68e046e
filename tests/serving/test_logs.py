"""Logs: the demo's format (time:LEVEL:logger:message), colored on a terminal, plain otherwise."""

from __future__ import annotations

import io
import logging
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from notes_api.serving.log_formats import ColorFormatter
from notes_api.serving.logs import BackgroundHandler, access_log_for
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


class OnATerminal:
    """`python src/main.py` with its output on a pseudo-terminal, as `make run` from a shell, in a
    process group of its own (the terminal's foreground group)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.leader, follower = pty.openpty()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "src" / "main.py")],
            cwd=ROOT,
            env=environment | env,
            stdin=follower,
            stdout=follower,
            stderr=follower,
            start_new_session=True,
        )
        os.close(follower)
        self.output = b""
        self.ended = False  # every process writing to the terminal has ended

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def wait_for(self, text: str, count: int = 1, timeout: float = 60) -> str:
        """What the terminal showed, once `text` shows `count` times; fails, saying how often it
        showed and what else, if the output ends or `timeout` passes first."""
        deadline = time.monotonic() + timeout
        while (shown := self.output.count(text.encode())) < count:
            if self.ended or time.monotonic() > deadline:
                why = "before its output ended" if self.ended else f"within {timeout} s"
                raise AssertionError(
                    f"the terminal showed {text!r} {shown} times, not {count}, {why}:\n{self.text}"
                )
            self._read(0.5)
        return self.text

    def rest(self, timeout: float = 5) -> str:
        """Everything, once every process writing to the terminal has ended; fails, saying what it
        showed, if one still writes after `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.ended:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"a process still had the terminal {timeout} s later:\n{self.text}"
                )
            self._read(0.5)
        return self.text

    def _read(self, wait: float) -> None:
        """Add to `output` what comes within `wait` seconds; note when no process writes."""
        if select.select([self.leader], [], [], wait)[0]:
            try:
                self.output += os.read(self.leader, 65536)
            except OSError:  # EIO: every process writing to the terminal has ended
                self.ended = True

    def ctrl_c(self, timeout: float = 30) -> int:
        """SIGINT to the whole process group, as the terminal sends on Ctrl+C; the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self.leader)


def test_server_logs_in_color_on_a_terminal(database_url: str) -> None:
    terminal = OnATerminal({"DATABASE_URL": database_url, "PORT": str(free_port())})
    try:
        text = terminal.wait_for("Application startup complete")
    finally:
        terminal.close()

    assert "Application startup complete" in text
    assert f"{ANSI}32mINFO{ANSI}0m:{ANSI}2muvicorn.error{ANSI}0m:" in text


@pytest.mark.e2e
@pytest.mark.parametrize(
    "mode",
    [
        {},
        {"RELOAD": "true"},  # `make run`: uvicorn's reloader runs the server in a child process
        {"WORKERS": "2"},
    ],
    ids=["plain", "reload", "workers"],
)
def test_ctrl_c_on_a_terminal_shows_each_servers_last_lines(
    database_url: str, mode: dict[str, str]
) -> None:
    workers = int(mode.get("WORKERS", 1))
    terminal = OnATerminal({"DATABASE_URL": database_url, "PORT": str(free_port())} | mode)
    try:
        terminal.wait_for("Application startup complete", count=workers)
        code = terminal.ctrl_c()
        text = re.sub(r"\x1b\[\d+m", "", terminal.rest())
    finally:
        terminal.close()

    assert code == 0, text
    servers = re.findall(r"Started server process \[(\d+)\]", text)
    assert len(servers) == workers, text
    # Each server process's own last lines, the database closed before it ends.
    for pid in servers:
        assert f"Finished server process [{pid}]" in text, text
    assert text.count("Disconnected from database") == workers, text
    assert text.count("Application shutdown complete.") == workers, text


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


# -- the access log ------------------------------------------------------------------------------

ACCESS_ARGS = ('%s - "%s %s HTTP/%s" %d', "127.0.0.1:40000", "GET", "/notes/7", "1.1", 200)


def access_logger(handler: logging.Handler) -> logging.Logger:
    """An "uvicorn.access" logger propagating to a root of its own, which holds `handler`."""
    root = logging.Logger("root")
    root.addHandler(handler)
    logger = logging.Logger("uvicorn.access", logging.INFO)
    logger.parent = root
    return logger


def test_the_access_log_writes_the_line_logging_would_write() -> None:
    stream = io.StringIO()
    handler = BackgroundHandler(stream, interval=0.01)
    handler.setFormatter(ColorFormatter(use_colors=False))
    logger = access_logger(handler)
    fast = access_log_for(logger)
    assert fast is not None
    try:
        logger.info(*ACCESS_ARGS)
        fast.info(*ACCESS_ARGS)
        logger.info("between")
    finally:
        handler.close()

    through_logging, fast_line, between = stream.getvalue().splitlines()
    line = r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}:INFO:uvicorn\.access:127\.0\.0\.1:40000 - "GET'
    assert re.match(line, fast_line)
    assert fast_line.split(":INFO:")[1] == through_logging.split(":INFO:")[1]
    assert between.endswith(":INFO:uvicorn.access:between")  # in the order they came


@pytest.mark.parametrize("use_colors", [False, True])
def test_the_writer_formats_the_access_line_as_logging_would(use_colors: bool) -> None:
    formatter = ColorFormatter(use_colors=use_colors)
    msg, *args = ACCESS_ARGS
    for created in (1_764_490_531.0, 1_764_490_531.999, 1_764_490_532.0625, 12.25):
        made_by_logging = logging.makeLogRecord(
            {"name": "uvicorn.access", "levelno": logging.INFO, "levelname": "INFO", "msg": msg,
             "args": tuple(args), "created": created, "msecs": int(created % 1 * 1000)}
        )  # fmt: skip

        line = formatter.access_line(created, msg, tuple(args), None, None)
        assert line == formatter.format(made_by_logging)


def test_the_access_line_follows_a_format_of_ones_own() -> None:
    msg, *args = ACCESS_ARGS
    own = ColorFormatter("%(levelname)s %(name)s %(message)s", use_colors=False)
    assert own.access_line(12.25, msg, tuple(args), None, None) == (
        'INFO uvicorn.access 127.0.0.1:40000 - "GET /notes/7 HTTP/1.1" 200'
    )
    stream = io.StringIO()
    handler = BackgroundHandler(stream, interval=0.01)
    handler.setFormatter(logging.Formatter("%(name)s|%(message)s"))  # not ours at all
    fast = access_log_for(access_logger(handler))
    assert fast is not None
    fast.info(*ACCESS_ARGS)
    handler.close()
    assert stream.getvalue() == 'uvicorn.access|127.0.0.1:40000 - "GET /notes/7 HTTP/1.1" 200\n'


@pytest.mark.parametrize(
    "setting", ["a filter", "another handler", "a plain handler", "level warning", "handler level"]
)
def test_the_access_log_leaves_logging_to_do_what_it_could_not(setting: str) -> None:
    handler: logging.Handler = BackgroundHandler(io.StringIO(), interval=0.01)
    try:
        if setting == "a plain handler":
            handler.close()
            handler = logging.StreamHandler(io.StringIO())
        logger = access_logger(handler)
        if setting == "a filter":
            logger.addFilter(lambda record: True)
        elif setting == "another handler":
            logger.addHandler(logging.StreamHandler(io.StringIO()))
        elif setting == "level warning":
            logger.setLevel(logging.WARNING)
        elif setting == "handler level":
            handler.setLevel(logging.WARNING)

        assert access_log_for(logger) is None
    finally:
        handler.close()


@pytest.mark.e2e
def test_every_request_gets_its_access_line_up_to_shutdown(server: ServerProcess) -> None:
    with requests.Session() as session:
        for number in range(300):
            assert session.get(f"{server.base}/notes/{number + 1}", timeout=5).status_code == 404
    assert server.stop() == 0  # at once: lines still queued are written on the way out

    log = server.log.read_text()
    for number in range(300):
        assert f'"GET /notes/{number + 1} HTTP/1.1" 404' in log
    assert log.count('"GET /notes/') == 300


def test_the_time_is_written_as_logging_writes_it() -> None:
    ours, logging_own = ColorFormatter(use_colors=False), logging.Formatter()
    # Within a second, across a second and a day, and back again.
    for created in (1_764_490_531.0, 1_764_490_531.999, 1_764_490_532.001, 1_764_547_199.5, 12.25):
        stamped = logging.makeLogRecord({"created": created, "msecs": (created % 1) * 1000})

        assert ours.formatTime(stamped) == logging_own.formatTime(stamped)


def test_bench_log_line_prints_each_pieces_cost() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "log_line.py"), "--lines=200"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    pieces = (
        "uvicorn's arguments",
        r"AccessLog\.info \(queued\)",
        r"a LogRecord, Formatter\.format",
        r"ColorFormatter\.access_line",
    )
    for piece in pieces:
        assert re.search(rf"^ +{piece} +\d+\.\d\d$", run.stdout, re.MULTILINE), run.stdout
