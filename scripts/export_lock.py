"""Hash-pinned requirements for pip, read from poetry.lock with Python alone.

    python3 scripts/export_lock.py main embedded > requirements.txt

What `make install` (and the Dockerfile) feed `pip install --require-hashes`. Poetry resolves the
dependencies once, into poetry.lock (`make lock`); installing them needs no resolver and no poetry.
Since lock format 2.1 each package in the lock lists the dependency groups that need it and, per
group, the environment marker under which they do (`python_version == "3.11"`, `sys_platform ==
"win32"`). So the requirements of some groups are the packages of those groups, pinned to their
locked versions, each with its marker and the hashes of its files; pip evaluates the markers for the
Python it runs on and checks every download against the hashes.

First the lock is checked against pyproject.toml, as `poetry check --lock` does: its `content-hash`
is poetry's hash of the tables that declare dependencies, so a dependency added to pyproject.toml
and not locked stops the install here with a line that says what to do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK_VERSION = "2.1"  # what poetry 2 writes; older locks have no groups or markers per package

# Poetry's content hash (poetry.packages.locker.Locker._get_content_hash, Poetry 2.3 and later):
# sha256 of the JSON, keys sorted, of these tables of pyproject.toml.
PROJECT_KEYS = ("requires-python", "dependencies", "optional-dependencies")
POETRY_LEGACY_KEYS = ("dependencies", "source", "extras", "dev-dependencies")
POETRY_KEYS = (*POETRY_LEGACY_KEYS, "group")


class LockError(Exception):
    """poetry.lock cannot give the requirements asked for; the message says what to do."""


def content_hash(pyproject: dict[str, Any]) -> str:
    """The content-hash poetry writes into poetry.lock for this pyproject.toml."""
    project = {k: v for k in PROJECT_KEYS if (v := pyproject.get("project", {}).get(k)) is not None}
    groups = pyproject.get("dependency-groups", {})
    tool_poetry = pyproject.get("tool", {}).get("poetry", {})
    relevant: dict[str, Any] = {}
    for key in POETRY_KEYS:
        value = tool_poetry.get(key)
        # A missing legacy key still counts (as null) in a pyproject with only [tool.poetry].
        if value is None and (key not in POETRY_LEGACY_KEYS or project or groups):
            continue
        relevant[key] = value
    content: dict[str, Any] = {}
    if project:
        content["project"] = project
    if groups:
        content["dependency-groups"] = groups
    if content:
        content["tool"] = {"poetry": relevant}
    else:
        content = relevant
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def declared_groups(pyproject: dict[str, Any]) -> set[str]:
    poetry_groups = pyproject.get("tool", {}).get("poetry", {}).get("group", {})
    return {"main", *poetry_groups, *pyproject.get("dependency-groups", {})}


def marker(package: dict[str, Any], groups: set[str]) -> str | None:
    """When the package is needed for these groups: None for always, else a PEP 508 marker."""
    locked = package.get("markers", {})
    wanted = sorted(groups.intersection(package["groups"]))
    # One string stands for every group of the package; a table names the groups that have one.
    markers = [locked if isinstance(locked, str) else locked.get(group) for group in wanted]
    if None in markers:
        return None
    unique = list(dict.fromkeys(markers))
    return unique[0] if len(unique) == 1 else " or ".join(f"({m})" for m in unique)


def requirements(lock: dict[str, Any], groups: set[str]) -> str:
    """pip's requirements-file lines for the packages these groups need."""
    lines = []
    for package in sorted(lock["package"], key=lambda package: package["name"]):
        if not groups.intersection(package["groups"]):
            continue
        if "source" in package:  # a path, URL or VCS dependency: poetry export handles those
            raise LockError(f"{package['name']} is not from the package index: use poetry export")
        when = marker(package, groups)
        line = f"{package['name']}=={package['version']}" + (f" ; {when}" if when else "")
        lines.append(" \\\n    ".join([line, *(f"--hash={f['hash']}" for f in package["files"])]))
    return "".join(f"{line}\n" for line in lines)


def export(groups: list[str], root: Path = ROOT) -> str:
    """The requirements of `groups`, after checking that poetry.lock matches pyproject.toml."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    lock = tomllib.loads((root / "poetry.lock").read_text())
    if (version := lock["metadata"]["lock-version"]) != LOCK_VERSION:
        raise LockError(f"poetry.lock is format {version}, not {LOCK_VERSION}: run `make lock`")
    if lock["metadata"]["content-hash"] != content_hash(pyproject):
        raise LockError("poetry.lock does not match pyproject.toml: run `make lock`")
    known = declared_groups(pyproject)
    if unknown := ", ".join(sorted(set(groups) - known)):
        raise LockError(f"no dependency group {unknown} (there are {', '.join(sorted(known))})")
    return requirements(lock, set(groups))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="+", help="dependency groups: main, embedded, dev, ...")
    args = parser.parse_args()
    try:
        sys.stdout.write(export(args.groups))
    except LockError as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
