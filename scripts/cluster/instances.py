"""The service's instances, api1 and api2: `python src/main.py` in their namespaces, with the
settings docs/scaling.md explains.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cluster.hosts import Process

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "src" / "main.py"
API_PORT = 5000
SETTINGS = {
    "DB_POOL_TIMEOUT": "2",
    "DB_CONNECT_TIMEOUT": "2",
    "ACCESS_LOG": "false",
    "SHUTDOWN_TIMEOUT": "5",
    # HAProxy notices an instance going within 1.5 s (its checks: `inter 1s fastinter 500ms
    # fall 2`): until then, idle connections stay open rather than vanish under a request.
    "SHUTDOWN_DRAIN": "3",
}


def instance_env(
    *, address: str, database_url: str, read_url: str | None, balancer: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "DB_", "PYTEST"))}
    env.pop("DATABASE_URL", None)
    env.pop("DATABASE_READ_URL", None)
    env |= SETTINGS | {
        "HOST": address,
        "PORT": str(API_PORT),
        "DATABASE_URL": database_url,
        # HAProxy's address: uvicorn takes the client's from its X-Forwarded-For.
        "FORWARDED_ALLOW_IPS": balancer,
    }
    if read_url is not None:
        env["DATABASE_READ_URL"] = read_url
    return env


def start_instance(netns: str, env: dict[str, str], log: Path, timeout: float = 60) -> Process:
    """Start an instance; return once its /ready answers 200."""
    process = Process(["ip", "netns", "exec", netns, sys.executable, str(MAIN)], log)
    process.start(env, cwd=ROOT)
    url = f"http://{env['HOST']}:{API_PORT}/ready"
    deadline = time.monotonic() + timeout
    while not answers(url):
        if not process.running() or time.monotonic() > deadline:
            process.terminate(timeout=5)
            raise RuntimeError(f"{netns} did not start:\n{tail(log)}")
        time.sleep(0.2)
    return process


def answers(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
