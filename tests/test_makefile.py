"""`make start`, `make status`, `make stop`, run for real: the commands a user types.

Each test gives make its own pid and log files (PID_FILE, LOG_FILE) and a free port, so a server the
developer started with `make start` is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support import ROOT, ServerProcess, free_port

pytestmark = pytest.mark.e2e


@dataclass
class Make:
    """`make <target>` in the project, with this environment and these pid and log files."""

    env: dict[str, str]
    pid_file: Path
    log_file: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def __call__(self, target: str, *variables: str) -> subprocess.CompletedProcess[str]:
        # This Python's virtualenv, whichever the suite runs in (`make test VENV=...`).
        files = [f"VENV={sys.prefix}", f"PID_FILE={self.pid_file}", f"LOG_FILE={self.log_file}"]
        return subprocess.run(
            ["make", "--no-print-directory", target, *files, *variables],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def make(database_url: str, tmp_path: Path) -> Make:
    """make, on the test database and a free port."""
    if shutil.which("make") is None:
        pytest.skip("needs make: apt-get install make")
    # Not the variables of a `make test` this may run under (its command line, its jobserver).
    ignored = ("TEST_", "MAKE", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ignored)}
    env |= {"DATABASE_URL": database_url, "HOST": "127.0.0.1", "PORT": str(free_port())}
    return Make(env, tmp_path / "run.pid", tmp_path / "run.log")


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_start_status_stop_run_the_server_in_the_background(make: Make) -> None:
    pid_file, base = make.pid_file, make.base

    stopped = make("status")
    assert (stopped.returncode, stopped.stdout) == (2, "not running\n")

    started = make("start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"ready: {base}" in started.stdout
    pid = int(pid_file.read_text())
    # make has returned; the server answers on its own.
    assert requests.get(f"{base}/health", timeout=5).json() == {"status": "ok"}

    running = make("status")
    assert running.returncode == 0
    assert running.stdout == f"running (pid {pid}) on {base}: healthy, ready\n"

    again = make("start")
    assert again.returncode == 2
    assert f"already running (pid {pid}" in again.stdout

    stop = make("stop")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert stop.stdout == f"stopping (SIGTERM to pid {pid}) ...\nstopped\n"
    assert not pid_file.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/health", timeout=5)
    # A graceful stop: uvicorn ran the shutdown (the pool closed) before the process ended.
    assert "Application shutdown complete" in make.log_file.read_text()

    assert make("status").stdout == "not running\n"


def test_start_fails_with_the_log_tail_when_the_server_cannot_start(make: Make) -> None:
    unreachable = f"postgresql://postgres:pw@127.0.0.1:{free_port()}/notes"

    result = make("start", f"DATABASE_URL={unreachable}")

    assert result.returncode == 2
    assert "error: the server exited" in result.stdout
    # The log's tail says why, in the service's one line.
    assert "error: DATABASE_URL: cannot connect to postgresql://" in result.stdout
    assert "Connect call failed" in result.stdout
    assert not make.pid_file.exists()


def test_start_refuses_a_port_in_use(make: Make, taken_port: int) -> None:
    result = make("start", f"PORT={taken_port}")

    assert result.returncode == 2
    assert f"error: port {taken_port} is taken" in result.stdout
    assert not make.pid_file.exists()


def test_stop_leaves_alone_a_process_that_is_not_the_server(make: Make) -> None:
    # A pid file left behind, whose pid now belongs to another program: never signal it.
    other = subprocess.Popen(["sleep", "30"])
    try:
        make.pid_file.write_text(f"{other.pid}\n")

        result = make("stop")

        assert result.returncode == 0
        assert "stale file, removed" in result.stdout
        assert other.poll() is None
        assert not make.pid_file.exists()
    finally:
        other.kill()
        other.wait()


def test_tail_without_a_log_says_to_start_first(make: Make) -> None:
    result = make("tail")

    assert result.returncode == 2
    assert result.stdout == f"error: no {make.log_file} yet: make start\n"


def test_load_test_serves_locusts_web_ui_on_locust_port(
    make: Make, server: ServerProcess, tmp_path: Path
) -> None:
    web = f"http://127.0.0.1:{free_port()}"
    command = ["make", "--no-print-directory", "load-test", f"PORT={server.port}"]
    command.append(f"LOCUST_PORT={web.rsplit(':', 1)[1]}")
    log = tmp_path / "load-test.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=make.env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no web UI on {web}:\n{log.read_text()}"
            try:
                page = requests.get(web, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # Locust stops, and make with it
        process.wait(30)

    assert page.status_code == 200
    # Locust's page, aimed at the service make was told about (no users started, no load sent).
    assert f'"host": "{server.base}"' in page.text


def installs(target: str, venv: Path) -> list[str]:
    """The dependency groups a first `make <target>` installs into an empty `venv`, in order."""
    commands = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    # `export_lock.py main` for the main group, `export_lock.py main <group>` for each other.
    exports = [command.split(">")[0].split() for command in commands if "export_lock.py" in command]
    return [export[-1] for export in exports]


@pytest.mark.parametrize(
    ("target", "groups"),
    [
        # Serving needs the main group and the embedded PostgreSQL: no test, load or docs tools.
        ("run", ["main", "embedded"]),
        ("start", ["main", "embedded"]),
        ("test", ["main", "embedded", "dev", "docs", "tracing"]),
        ("check", ["main", "embedded", "dev", "load", "tracing"]),
        ("docs-build", ["main", "docs"]),
        ("load-test", ["main", "load"]),
    ],
)
def test_each_target_installs_the_groups_it_needs(
    target: str, groups: list[str], tmp_path: Path
) -> None:
    if shutil.which("make") is None:
        pytest.skip("needs make: apt-get install make")
    assert installs(target, tmp_path / "venv") == groups


def test_installed_groups_are_not_installed_again(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("needs make: apt-get install make")
    venv = tmp_path / "venv"
    venv.mkdir()
    for group in ("main", "embedded"):
        (venv / f".installed-{group}").touch()

    # `make test` adds only what `make run` did not install.
    assert installs("test", venv) == ["dev", "docs", "tracing"]


def older_python() -> str | None:
    """A Python 3.8 to 3.10 that runs (a pyenv shim of a version not selected does not)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in (10, 9, 8):
        on_path = shutil.which(f"python3.{minor}")
        candidates = [
            *([on_path] if on_path else []),
            *map(str, pyenv.glob(f"3.{minor}.*/bin/python3")),
        ]
        for candidate in candidates:
            run = subprocess.run([candidate, "-V"], capture_output=True, check=False)
            if run.returncode == 0:
                return candidate
    return None


def test_a_python_older_than_3_11_is_refused_before_anything_is_installed(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("needs make: apt-get install make")
    old = older_python()
    if old is None:
        pytest.skip("needs a Python older than 3.11 to refuse (python3.10 on PATH, or pyenv's)")
    venv = tmp_path / "venv"
    result = subprocess.run(
        ["make", "--no-print-directory", "install", f"PYTHON={old}", f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    version = subprocess.run([old, "-V"], capture_output=True, text=True, check=True).stdout
    assert f"error: notes-api needs Python 3.11+ ({old} is {version.strip()})" in result.stdout
    assert not venv.exists()
