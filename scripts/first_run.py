"""The first ten minutes, measured: how long `make run` takes from a fresh clone to its first
answer, and how big the install it made is.

    python3 scripts/first_run.py [--python python3.13] [--keep]

Clones this checkout (its committed HEAD) into a temporary directory and runs `make run` there, with
an empty pip cache and free ports, asking /health until it answers; then stops it (Ctrl+C) and
prints the seconds to the first answer, when each step began (from make's output), the machine's
load, and the size of `.venv/`. pip's local configuration (extra indexes, find-links) is set aside,
so packages come from the package index, as on a user's machine. Needs only Python, git and make.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600.0
# The steps of a first `make run`, each known by the first line make prints for it.
STEPS = {
    "the main group and the project": "requirements-main.txt",
    "the embedded group": "requirements-embedded.txt",
    "the service's start": "src/main.py",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def disk_usage_mib(path: Path) -> float:
    """What `du` counts: blocks on disk, in MiB (the unit of `du -sh`'s M)."""
    if not path.exists():
        return 0.0
    blocks = sum(entry.lstat().st_blocks for entry in path.rglob("*"))
    return blocks * 512 / 2**20


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="python3", help="the PYTHON given to make")
    parser.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="notes-api-first-run-"))
    work.chmod(0o755)  # the embedded server's user must reach the clone when this runs as root
    clone = work / "notes-api"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    port = free_port()
    # A new user's environment: no settings of ours, nothing cached, only the package index.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "MAKE", "MFLAGS"))}
    for name in ("DATABASE_URL", "VENV", "VIRTUAL_ENV"):
        env.pop(name, None)
    env |= {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_CACHE_DIR": str(work / "pip-cache"),
        "PORT": str(port),
        "EMBEDDED_DB_PORT": str(free_port()),
    }
    if "PIP_CERT" in os.environ:  # a proxy's certificate authority, if the machine needs one
        env["PIP_CERT"] = os.environ["PIP_CERT"]

    log = work / "make-run.log"
    print(f"make run PYTHON={args.python} in {clone} (log: {log})", file=sys.stderr)
    load_before = os.getloadavg()[0]
    began: dict[str, float] = {}
    started = time.monotonic()
    make = subprocess.Popen(
        ["make", "run", f"PYTHON={args.python}"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, for the Ctrl+C below
    )

    def record() -> None:
        """make's output into the log, each line with the second it came, and when steps began."""
        assert make.stdout is not None
        with log.open("w") as output:
            for line in make.stdout:
                now = time.monotonic() - started
                output.write(f"{now:6.1f} {line}")
                output.flush()
                for step, marker in STEPS.items():
                    if marker in line:
                        began.setdefault(step, now)

    recorder = threading.Thread(target=record)
    recorder.start()
    try:
        while not answers(f"http://127.0.0.1:{port}/health"):
            if make.poll() is not None or time.monotonic() - started > TIMEOUT:
                tail = log.read_text()[-3000:]
                raise SystemExit(f"error: no answer; the end of {log}:\n{tail}")
            time.sleep(0.2)
        first_answer = time.monotonic() - started
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGINT)
            make.wait(30)
        recorder.join()

    venv = disk_usage_mib(clone / ".venv")
    version = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), "-V"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"{version}: first answer after {first_answer:.1f} s")
    for step, second in sorted(began.items(), key=lambda item: item[1]):
        print(f"  {second:5.1f} s  {step}")
    load = f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    print(f"  load average (1 min, {os.cpu_count()} CPUs): {load}")
    print(f"  .venv/  {venv:.1f} MiB  (everything the first run installed)")
    if (clone / ".tools").exists():
        raise SystemExit("error: the first run made .tools/ (poetry): only `make lock` needs it")
    if args.keep:
        print(f"kept: {clone}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
