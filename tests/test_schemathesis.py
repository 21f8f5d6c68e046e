"""Schemathesis against the real server and its own OpenAPI document: every check, every phase
(examples, coverage, fuzzing, stateful), a bounded number of cases, and zero failures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import EMPTY_TABLES, ServerProcess, free_port, sql

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
MAX_EXAMPLES = 30  # per operation and phase; a run takes about 10 s
TOKEN = "schemathesis-token"


@pytest.fixture(params=["open", "token"])
def server(
    request: pytest.FixtureRequest, notes_url: str, tmp_path: Path
) -> Iterator[tuple[ServerProcess, list[str]]]:
    """The service as deployed by default, and with API_TOKEN set (reads stay open)."""
    env = {"DATABASE_URL": notes_url, "PORT": str(free_port()), "ACCESS_LOG": "false"}
    headers: list[str] = []
    if request.param == "token":
        env["API_TOKEN"] = TOKEN
        headers = ["--header", f"Authorization: Bearer {TOKEN}"]
    process = ServerProcess(env, tmp_path / "server.log")
    try:
        process.wait_ready()
        yield process, headers
    finally:
        process.stop()
    sql(notes_url, EMPTY_TABLES)


def test_schemathesis_finds_no_failure(
    server: tuple[ServerProcess, list[str]], tmp_path: Path
) -> None:
    process, headers = server
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            f"--config-file={CONFIG}",
            "run",
            f"{process.base}/openapi.json",
            "--checks=all",
            "--phases=examples,coverage,fuzzing,stateful",
            f"--max-examples={MAX_EXAMPLES}",
            "--continue-on-failure",
            "--generation-database=none",
            "--no-color",
            *headers,
        ],
        cwd=tmp_path,  # its report files stay out of the checkout
        env=os.environ | {"SCHEMATHESIS_HOOKS": str(HOOKS)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases is not None, output
    assert int(cases[1]) > 100
    # Not even a warning (its output in full: pytest shortens a failed `in`'s operands).
    assert "No issues found" in output, output
    # The server never logged an unhandled error either.
    assert "Exception in ASGI application" not in process.log.read_text()
    print(f"\nschemathesis: {cases[0]}")
