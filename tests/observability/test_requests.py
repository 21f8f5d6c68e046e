"""X-Request-ID (observability/requests.py, serving/guards.py): the client's when sane, else a new
one, on every answer the app sends, and on every log line written while the request is served."""

from __future__ import annotations

import io
import logging
import re

import pytest
from fastapi.testclient import TestClient

from notes_api.app import create_app
from notes_api.config import Settings
from notes_api.observability.requests import new_request_id
from notes_api.serving.log_formats import ColorFormatter
from notes_api.serving.logs import BackgroundHandler

MADE = re.compile(r"^[0-9a-f]{32}$")


def test_a_sane_request_id_is_echoed(api: TestClient) -> None:
    answer = api.get("/notes/1", headers={"X-Request-ID": "lb-7f3a:42/trace=1"})

    assert answer.status_code == 404
    assert answer.headers["x-request-id"] == "lb-7f3a:42/trace=1"


def test_a_request_without_one_gets_an_id_of_its_own(api: TestClient) -> None:
    made = {api.get("/health").headers["x-request-id"] for _ in range(20)}

    assert len(made) == 20
    assert all(MADE.match(request_id) for request_id in made)


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param("x" * 129, id="over 128 characters"),
        pytest.param("two words", id="a space"),
        pytest.param("caf\u00e9", id="not ASCII"),
        pytest.param("", id="empty"),
    ],
)
def test_an_insane_request_id_is_replaced_not_refused(api: TestClient, sent: str) -> None:
    answer = api.get("/health", headers={b"X-Request-ID": sent.encode("latin-1")})

    assert answer.status_code == 200
    assert MADE.match(answer.headers["x-request-id"])


def test_an_id_of_128_characters_is_kept(api: TestClient) -> None:
    sent = "a" * 128
    assert api.get("/health", headers={"X-Request-ID": sent}).headers["x-request-id"] == sent
    assert MADE.match(new_request_id())


def test_every_answer_carries_it_refusals_included(api: TestClient) -> None:
    sent = {"X-Request-ID": "refused-1"}
    answers = [
        api.post("/notes", content=b'{"text": "' + b"x" * 70_000 + b'"}', headers=sent),  # 413
        api.post("/notes", json={"text": ""}, headers=sent),  # 422
        api.request("BREW", "/notes", headers=sent),  # 405
        api.get("/nowhere", headers=sent),  # 404
        api.get("/notes", params={"take": "many"}, headers=sent),  # 422
    ]

    assert [a.status_code for a in answers] == [413, 422, 405, 404, 422]
    assert all(a.headers["x-request-id"] == "refused-1" for a in answers)


def test_a_log_line_written_while_serving_names_the_request(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/speak")
    async def speak() -> dict[str, str]:
        logging.getLogger("notes_api.demo").warning("Spoke")
        return {}

    stream = io.StringIO()
    handler = BackgroundHandler(stream, interval=0.01)
    handler.setFormatter(ColorFormatter(use_colors=False))
    logger = logging.getLogger("notes_api.demo")
    logger.addHandler(handler)
    try:
        with TestClient(app) as client:
            client.get("/speak", headers={"X-Request-ID": "probe-9"})
            client.get("/speak")
        logger.warning("Between requests")
    finally:
        logger.removeHandler(handler)
        handler.close()

    named, made, outside = stream.getvalue().splitlines()
    assert named.endswith(":WARNING:notes_api.demo:Spoke request_id=probe-9")
    assert re.search(r":Spoke request_id=[0-9a-f]{32}$", made)
    assert outside.endswith(":WARNING:notes_api.demo:Between requests")
