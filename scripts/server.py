"""Run the API in the background: `make start`, `make status`, `make stop` (and `make tail`).

    python scripts/server.py start  [--pid-file run.pid] [--log-file run.log] [--timeout 60]
    python scripts/server.py status [--pid-file run.pid]
    python scripts/server.py stop   [--pid-file run.pid] [--timeout 30]

`start` runs `python src/main.py` detached, with its output appended to the log file and its pid in
the pid file, and returns once `/ready` answers. `stop` sends SIGTERM to that pid (the server drains
its requests, then stops the embedded PostgreSQL if it started one) and waits for it to end. Only
the pid in the pid file is ever signalled, and only if it is still `src/main.py`.

Host and port come from the same settings the server reads (environment, then `.env`), so pass
`status` the overrides you gave `start`: `make start PORT=5050` -> `make status PORT=5050`.

Exit codes, as init scripts use them: 0 running (status) or done; 1 failed or unhealthy;
3 not running (status).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from notes_api.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "src" / "main.py"
NOT_RUNNING = 3
LOG_TAIL_LINES = 30


def base_url(settings: Settings) -> str:
    """Where to reach the server from this machine (a wildcard address means any interface)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def answers(url: str, timeout: float = 2.0) -> bool:
    """The URL answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def port_taken(settings: Settings) -> bool:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    try:
        with socket.create_connection((host, settings.port), timeout=1):
            return True
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """The process exists and has not exited (an unreaped zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # /proc/<pid>/stat: "pid (comm) state ...": Z is a zombie, X is dead.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): os.kill said it exists
    return state not in ("Z", "X")


def is_our_server(pid: int) -> bool:
    """`pid` still runs our src/main.py (not a program that got the pid after a reboot)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return alive(pid)  # no /proc (macOS): trust the pid file
    except OSError:
        return False
    return str(MAIN).encode() in command


def running_pid(pid_file: Path) -> int | None:
    """The pid of our live server, or None (removing a stale pid file on the way)."""
    pid = read_pid(pid_file)
    if pid is None:
        return None
    if alive(pid) and is_our_server(pid):
        return pid
    print(f"{pid_file.name}: pid {pid} is not running the server any more (stale file, removed)")
    pid_file.unlink(missing_ok=True)
    return None


def log_tail(log_file: Path, since: int = 0) -> str:
    with log_file.open("rb") as log:
        log.seek(since)
        lines = log.read().decode(errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def start(pid_file: Path, log_file: Path, timeout: float) -> int:
    settings = load_settings()
    url = base_url(settings)
    if (pid := running_pid(pid_file)) is not None:
        print(f"already running (pid {pid}, {pid_file.name}); `make stop` first to restart it")
        return 1
    if port_taken(settings):
        print(f"error: port {settings.port} is taken; free it, or choose another: PORT=5050")
        return 1

    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        since = log.tell()
        # A session of its own: Ctrl-C in this terminal, or its closing, does not reach the server.
        process = subprocess.Popen(
            [sys.executable, str(MAIN)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\n")
    print(f"starting the API (pid {process.pid}, log in {log_file}) ...")

    try:
        ready = wait_ready(process, url, timeout)
    except KeyboardInterrupt:
        print(f"\nstill starting in the background (pid {process.pid}): `make status`, `make stop`")
        return 1
    if ready:
        print(f"ready: {url}  (docs: {url}/docs; `make tail` for the log, `make stop`)")
        return 0

    if process.poll() is not None:
        print(f"error: the server exited ({process.returncode}); {log_file}:")
    else:
        print(f"error: {url}/ready did not answer within {timeout:.0f}s; {log_file}:")
    print(log_tail(log_file, since))
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        print(f"the server (pid {process.pid}) is still stopping; see {log_file}")
        return 1
    pid_file.unlink(missing_ok=True)
    return 1


def wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
    """True once `url`/ready answers; False if the process exits or time runs out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if answers(f"{url}/ready", timeout=1):
            return True
        time.sleep(0.2)
    return False


def status(pid_file: Path) -> int:
    pid = running_pid(pid_file)
    if pid is None:
        print("not running")
        return NOT_RUNNING
    url = base_url(load_settings())
    if answers(f"{url}/health"):
        ready = "ready" if answers(f"{url}/ready") else "NOT ready: the database does not answer"
        print(f"running (pid {pid}) on {url}: healthy, {ready}")
        return 0
    print(
        f"running (pid {pid}), but {url}/health does not answer "
        "(still starting? started with another HOST or PORT? see `make tail`)"
    )
    return 1


def stop(pid_file: Path, timeout: float) -> int:
    pid = running_pid(pid_file)
    if pid is None:
        print("not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    print(f"stopping (SIGTERM to pid {pid}) ...")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            pid_file.unlink(missing_ok=True)
            print("stopped")
            return 0
        time.sleep(0.1)
    print(
        f"error: pid {pid} still runs after {timeout:.0f}s (see `make tail`); "
        f"to force it: kill -KILL {pid}"
    )
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "status", "stop"])
    parser.add_argument("--pid-file", type=Path, default=ROOT / "run.pid")
    parser.add_argument("--log-file", type=Path, default=ROOT / "run.log")
    parser.add_argument("--timeout", type=float, help="seconds (start: 60, stop: 30)")
    args = parser.parse_args()
    pid_file: Path = args.pid_file.resolve()
    if args.command == "start":
        return start(pid_file, args.log_file.resolve(), args.timeout or 60.0)
    if args.command == "stop":
        return stop(pid_file, args.timeout or 30.0)
    return status(pid_file)


if __name__ == "__main__":
    sys.exit(main())
