"""`make test-lowest`, `make test-newest`: the suite on the lowest, or the newest, versions of the
service's dependencies that pyproject.toml admits, each in a virtualenv of its own.

    python scripts/bounds.py lowest|newest [--python PYTHON] [-- PYTEST_ARGS...]

The service's dependencies are those pyproject.toml declares in the main and embedded groups. uv
resolves them afresh, not from poetry.lock:

- lowest (.venv-lowest/, `--resolution lowest-direct`): each at the lowest version its specifier
  admits, on the oldest Python requires-python admits. A floor must be installed exactly: one the
  resolver passes over, because another requirement excludes it, is not true either.
- newest (.venv-newest/, on PYTHON, by default the one that runs this): each at the newest version
  its specifier admits, and what they need at its newest too: what a fresh install gets today.

The tools the suite runs with (the dev, docs and tracing groups, as `make test` installs them) are
pinned to the versions poetry.lock holds, and every package a run does not resolve afresh keeps its
locked version where the resolution allows it (uv keeps the versions its output file already pins):
a failure speaks of the versions under test, not of pytest's. The lock need not match
pyproject.toml: a bound raised and not yet locked is what `make test-newest` is there to try.

Before the tests, each package whose version differs from poetry.lock is listed; after them, the
tests that failed, or "nothing". uv asks PyPI, or the index in UV_DEFAULT_INDEX.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
SERVICE_GROUPS = ("main", "embedded")  # what the service needs to run
TOOL_GROUPS = ("dev", "docs", "tracing")  # what `make test` adds
# What a failure means, for each run.
VERDICT = {
    "lowest": "A floor in pyproject.toml is not true: raise it to the lowest version that passes.",
    "newest": "A release pyproject.toml admits and poetry.lock does not hold breaks the suite: a "
    "fresh install gets it, and so would a `make lock` that moves to it. Fix the code, or keep "
    "the release out (an upper bound, or `!=`).",
}

Pyproject = dict[str, Any]
Lock = dict[str, Any]


def uv(*args: str) -> None:
    """Run the uv installed beside this Python (in .tools/, where make puts it)."""
    binary = Path(sys.executable).with_name("uv")
    if not binary.exists():
        raise SystemExit(f"error: no uv beside {sys.executable}: run this through make")
    subprocess.run([str(binary), *args], check=True)


def group_requirements(pyproject: Pyproject, group: str) -> list[Requirement]:
    """A group's dependencies: the main group's from [project], the others' from poetry's tables,
    where each is `name = "<PEP 440 specifier>"`."""
    if group == "main":
        return [Requirement(line) for line in pyproject["project"]["dependencies"]]
    requirements = []
    for name, spec in pyproject["tool"]["poetry"]["group"][group]["dependencies"].items():
        if not isinstance(spec, str):
            raise SystemExit(f"error: {group} group: {name}: only a specifier string is read here")
        requirements.append(Requirement(name if spec == "*" else f"{name}{spec}"))
    return requirements


def service_requirements(pyproject: Pyproject) -> list[Requirement]:
    return [r for group in SERVICE_GROUPS for r in group_requirements(pyproject, group)]


def locked_versions(lock: Lock) -> dict[str, set[str]]:
    """Each locked package's versions, by normalised name (two where markers split one)."""
    versions: dict[str, set[str]] = {}
    for package in lock["package"]:
        versions.setdefault(canonicalize_name(package["name"]), set()).add(package["version"])
    return versions


def pinned_tools(pyproject: Pyproject, lock: Lock) -> list[Requirement]:
    """The test tools' requirements, each pinned to its locked version."""
    locked = locked_versions(lock)
    pins = []
    for requirement in (r for g in TOOL_GROUPS for r in group_requirements(pyproject, g)):
        versions = locked.get(canonicalize_name(requirement.name), set())
        if len(versions) != 1:
            raise SystemExit(f"error: poetry.lock holds no one {requirement.name}: run make lock")
        requirement.specifier = SpecifierSet(f"=={versions.pop()}")
        pins.append(requirement)
    return pins


def floor(requirement: Requirement) -> Version | None:
    """The lowest version a requirement names: `>=2.0.8,<2.2` gives 2.0.8, `==0.9.*` 0.9."""
    for spec in requirement.specifier:
        if spec.operator in (">=", "~=", "=="):
            return Version(spec.version.removesuffix(".*"))
    return None


def python_floor(pyproject: Pyproject) -> str:
    """The oldest Python requires-python admits, as `3.11`."""
    lowest = floor(Requirement(f"python{pyproject['project']['requires-python']}"))
    if lowest is None:
        raise SystemExit("error: requires-python names no lowest version")
    return f"{lowest.major}.{lowest.minor}"


def kept_as_locked(which: str, pyproject: Pyproject, lock: Lock) -> str:
    """The locked versions uv is to keep where it can, written as the output file it updates.

    All but those resolved afresh: the service's own dependencies for the lowest run; for the
    newest, every package the service needs.
    """
    fresh = {canonicalize_name(r.name) for r in service_requirements(pyproject)}
    if which == "newest":
        fresh |= {
            canonicalize_name(package["name"])
            for package in lock["package"]
            if set(SERVICE_GROUPS) & set(package["groups"])
        }
    return "".join(
        f"{package['name']}=={package['version']}\n"
        for package in lock["package"]
        if canonicalize_name(package["name"]) not in fresh
    )


def resolve(which: str, venv: Path, python: str, pyproject: Pyproject, lock: Lock) -> Path:
    """Make the virtualenv anew, and have uv resolve its requirements: venv/requirements.txt."""
    # Anew each time: the Python it is made from may not be the one it was made from last time.
    uv("venv", "--quiet", "--clear", "--no-python-downloads", "--python", python, str(venv))
    requirements = [*service_requirements(pyproject), *pinned_tools(pyproject, lock)]
    requirements_in = venv / "requirements.in"
    requirements_in.write_text("".join(f"{requirement}\n" for requirement in requirements))
    requirements_txt = venv / "requirements.txt"
    requirements_txt.write_text(kept_as_locked(which, pyproject, lock))
    resolution = "lowest-direct" if which == "lowest" else "highest"
    uv(
        "pip", "compile", "--quiet", "--no-header", "--resolution", resolution,
        "--python", str(venv / "bin" / "python"), str(requirements_in),
        "--output-file", str(requirements_txt),
    )  # fmt: skip
    return requirements_txt


def resolved(requirements_txt: Path) -> dict[str, str]:
    """The versions in uv's output (`name==version` lines), by normalised name."""
    pins: dict[str, str] = {}
    for line in requirements_txt.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            pins[canonicalize_name(name)] = version
    return pins


def differences(pins: dict[str, str], lock: Lock) -> list[str]:
    """`name: locked -> resolved` for each package resolved to a version the lock does not hold."""
    locked = locked_versions(lock)
    return [
        f"{name}: {' or '.join(sorted(locked.get(name, {'(not locked)'})))} -> {version}"
        for name, version in sorted(pins.items())
        if version not in locked.get(name, set())
    ]


def floors_passed_over(pyproject: Pyproject, pins: dict[str, str]) -> list[str]:
    """The service's requirements resolved to a version above their floor."""
    passed_over = []
    for requirement in service_requirements(pyproject):
        lowest, got = floor(requirement), pins.get(canonicalize_name(requirement.name))
        if lowest is not None and got is not None and Version(got) != lowest:
            passed_over.append(f"{requirement}: the lowest that installs with the rest is {got}")
    return passed_over


def install(venv: Path, requirements_txt: Path) -> None:
    python = str(venv / "bin" / "python")
    uv("pip", "sync", "--quiet", "--python", python, str(requirements_txt))
    uv("pip", "install", "--quiet", "--python", python, "--no-deps", "--editable", str(ROOT))
    # The suite runs make targets in this virtualenv (`make start VENV=...`): make is to find the
    # groups it would install there installed, not install poetry.lock's versions over them.
    for group in (*SERVICE_GROUPS, *TOOL_GROUPS):
        (venv / f".installed-{group}").touch()


def failed_tests(junit: Path) -> list[str]:
    """The ids of the tests that failed or errored, from pytest's JUnit XML (xunit1 has `file`)."""
    failed = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("failure") is None and case.find("error") is None:
            continue
        file, name, classname = case.get("file"), case.get("name", ""), case.get("classname", "")
        if not file:  # a module that could not be collected
            failed.append(f"{classname}.{name}".strip("."))
            continue
        # classname: the module's dotted path, then the test's class if it has one.
        in_module = classname.removeprefix(file.removesuffix(".py").replace("/", ".")).strip(".")
        failed.append("::".join([file, *([in_module] if in_module else []), name]))
    return failed


def run_suite(venv: Path, pytest_args: list[str]) -> tuple[int, list[str]]:
    """pytest's exit code, and the tests that failed."""
    junit = venv / "junit.xml"
    junit.unlink(missing_ok=True)
    command = [
        # `locked`: the test that the environment holds poetry.lock's versions; here it does not.
        str(venv / "bin" / "python"), "-m", "pytest", "-m", "not cluster and not locked",
        "-p", "no:cacheprovider", f"--junitxml={junit}", "-o", "junit_family=xunit1",
        *pytest_args,
    ]  # fmt: skip
    code = subprocess.run(command, cwd=ROOT, check=False).returncode
    return code, failed_tests(junit) if junit.exists() else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", choices=VERDICT)
    parser.add_argument(
        "--python", help="lowest: the oldest requires-python admits; newest: the one running this"
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: options for pytest")
    args = parser.parse_intermixed_args()
    which = args.which
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lock = tomllib.loads((ROOT / "poetry.lock").read_text())
    venv = ROOT / f".venv-{which}"
    default = python_floor(pyproject) if which == "lowest" else sys.executable

    requirements_txt = resolve(which, venv, args.python or default, pyproject, lock)
    pins = resolved(requirements_txt)
    python = subprocess.run(
        [venv / "bin" / "python", "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(f"make test-{which}, Python {python}. Not as in poetry.lock (locked -> {which}):")
    print("".join(f"  {line}\n" for line in differences(pins, lock) or ["nothing"]), end="")
    if which == "lowest" and (passed_over := floors_passed_over(pyproject, pins)):
        print("error: floors that cannot be installed (raise them):")
        print("".join(f"  {line}\n" for line in passed_over), end="")
        return 2

    install(venv, requirements_txt)
    print(f"The suite on the {which} versions ({venv.name}/):", flush=True)
    code, failed = run_suite(venv, args.pytest_args)
    print(f"\nWhat broke on the {which} versions:", "nothing" if code == 0 else "")
    print("".join(f"  {name}\n" for name in failed), end="")
    if code not in (0, 1):
        print(f"  pytest exited {code}: see its output above")
    if code != 0:
        print(VERDICT[which])
    return code


if __name__ == "__main__":
    sys.exit(main())
