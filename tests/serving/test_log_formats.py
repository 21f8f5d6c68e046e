"""LOG_FORMAT=json (serving/log_formats.py): one JSON object per line, with the request's ID, and
the access log's fields; the text format's request ID is in tests/observability/."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import requests

from notes_api.observability.requests import CURRENT, Serving
from notes_api.serving.log_formats import JsonLines
from notes_api.serving.logs import AccessLog, BackgroundHandler
from tests.support import ServerProcess, free_port

ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")


def lines_of(write: Any) -> list[dict[str, Any]]:
    """What `write(handler)` logs through a BackgroundHandler with JsonLines, parsed."""
    stream = io.StringIO()
    handler = BackgroundHandler(stream, interval=0.01)
    handler.setFormatter(JsonLines())
    try:
        write(handler)
    finally:
        handler.close()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_has_time_level_logger_message_and_request_id() -> None:
    def write(handler: logging.Handler) -> None:
        logger = logging.getLogger("notes_api.demo.json")
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.warning("outside %s", "requests")
            token = CURRENT.set(Serving("req-1", 0.0))
            try:
                logger.warning("inside", extra={"note_id": 7})
                try:
                    raise ValueError("boom")
                except ValueError:
                    logger.exception("failed")
            finally:
                CURRENT.reset(token)
        finally:
            logger.removeHandler(handler)
            logger.propagate = True

    outside, inside, failed = lines_of(write)

    assert ISO_TIME.match(outside.pop("time"))
    assert outside == {
        "level": "WARNING",
        "logger": "notes_api.demo.json",
        "message": "outside requests",
        "request_id": None,
    }
    inside.pop("time")
    assert inside == {
        "level": "WARNING",
        "logger": "notes_api.demo.json",
        "message": "inside",
        "request_id": "req-1",
        "note_id": 7,  # a caller's extra=
    }
    assert failed["request_id"] == "req-1"
    assert failed["exc_info"].startswith("Traceback")
    assert "ValueError: boom" in failed["exc_info"]


def test_an_access_line_has_the_requests_fields() -> None:
    def write(handler: BackgroundHandler) -> None:
        token = CURRENT.set(Serving("req-2", 0.0))
        try:
            AccessLog(handler).info(
                '%s - "%s %s HTTP/%s" %d', "127.0.0.1:40000", "GET", "/notes/7", "1.1", 200
            )
        finally:
            CURRENT.reset(token)

    (line,) = lines_of(write)

    assert line["message"] == '127.0.0.1:40000 - "GET /notes/7 HTTP/1.1" 200'
    assert line["logger"] == "uvicorn.access"
    assert line["request_id"] == "req-2"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/notes/7", 200)
    assert line["client"] == "127.0.0.1:40000"
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] > 0


def test_the_server_writes_only_json_lines_and_no_secret(notes_url: str, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": notes_url,
        "PORT": str(free_port()),
        "LOG_FORMAT": "json",
        "API_TOKEN": "s3cret-token",
    }
    server = ServerProcess(env, tmp_path / "server.log")
    try:
        server.wait_ready()
        requests.post(
            f"{server.base}/notes",
            json={"text": "logged"},
            headers={"X-Request-ID": "json-1", "Authorization": "Bearer s3cret-token"},
            timeout=5,
        )
    finally:
        assert server.stop() == 0
    text = (tmp_path / "server.log").read_text()

    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    assert "s3cret-token" not in text
    messages = {line["message"] for line in lines}
    assert {
        "Application startup complete.",
        f"Finished server process [{server.process.pid}]",
    } <= messages
    (access,) = [line for line in lines if line["request_id"] == "json-1"]
    assert (access["method"], access["path"], access["status"]) == ("POST", "/notes", 200)
    assert access["logger"] == "uvicorn.access"
