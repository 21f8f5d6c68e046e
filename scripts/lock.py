"""Refresh poetry.lock through the simple package index (PEP 503) instead of PyPI's JSON API.

Poetry's built-in PyPI source asks for `/pypi/<name>/<version>/json`, an endpoint that mirrors and
proxies often do not serve. This script lets poetry resolve against the simple index that pip uses,
then removes every trace of that temporary source, so the lock reads exactly as if it had been made
against PyPI: package names, versions and file hashes, no URLs.

Run it with the Python that has poetry installed: `make lock`. Poetry keeps each locked version
that pyproject.toml still admits; name packages to move them to the newest it admits (`make lock
UPDATE="uvicorn fastapi"`, after raising their bounds).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pip._internal.models.index import PyPI  # pip's default index, whatever host it lives on
from poetry.factory import Factory

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "poetry.lock"
SOURCE = "lock-simple-index"


def index_url() -> str:
    """The index pip is configured with (PIP_INDEX_URL, pip.conf), else pip's default."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or PyPI.simple_url


def main(packages: list[str]) -> None:
    original = PYPROJECT.read_text()
    source = "\n".join(
        ["", "[[tool.poetry.source]]", f'name = "{SOURCE}"', f'url = "{index_url()}"']
    )
    source += '\npriority = "primary"\n'
    PYPROJECT.write_text(original + source)
    try:
        command = ["update", "--lock", *packages] if packages else ["lock"]
        subprocess.run([sys.executable, "-m", "poetry", *command], cwd=ROOT, check=True)
    finally:
        PYPROJECT.write_text(original)

    lock = re.sub(
        rf'\n\[package\.source\]\ntype = "legacy"\nurl = "[^"]*"\nreference = "{SOURCE}"\n',
        "\n",
        LOCK.read_text(),
    )
    # The content hash covers the sources too: recompute it for the pyproject without ours.
    content_hash = Factory().create_poetry(ROOT).locker._get_content_hash()
    lock = re.sub(r'content-hash = "[0-9a-f]+"', f'content-hash = "{content_hash}"', lock)
    LOCK.write_text(lock)
    subprocess.run([sys.executable, "-m", "poetry", "check", "--lock"], cwd=ROOT, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
