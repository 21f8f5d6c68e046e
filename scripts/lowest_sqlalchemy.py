"""`make test-lowest-sqlalchemy`: the data layer's tests on the lowest SQLAlchemy pyproject.toml
admits, in a virtualenv of their own (.venv-lowest/).

`databases` 0.9.0, its last release, compiles queries with SQLAlchemy's internals, and so does
not promise to work with every SQLAlchemy the pin lets in. `make test` runs on the locked
(newest) one; this runs on the oldest. The second venv holds exactly what .venv holds (the same
versions, installed without resolving again) but for SQLAlchemy.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-lowest"
PYTHON = VENV / "bin" / "python"
# Everything that builds, runs or reaches into SQLAlchemy through databases, and the routes on top.
TESTS = (
    "tests/test_statements.py",
    "tests/test_database.py",
    "tests/test_database_url.py",
    "tests/test_internals.py",
    "tests/test_pool.py",
    "tests/test_migrations.py",
    "tests/test_notes.py",
)


def lowest_sqlalchemy() -> str:
    """The lower bound of the `sqlalchemy` requirement in pyproject.toml (`>=2.0.7` gives 2.0.7)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if requirement.name.lower() == "sqlalchemy":
            bounds = [spec.version for spec in requirement.specifier if spec.operator == ">="]
            if bounds:
                return bounds[0]
    raise SystemExit("error: pyproject.toml has no `sqlalchemy>=...` requirement")


def pip(*args: str) -> None:
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        check=True,
    )


def main() -> int:
    version = lowest_sqlalchemy()
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    kept = [line for line in frozen if not line.lower().startswith("sqlalchemy==")]
    if not PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    requirements = VENV / "requirements.txt"
    requirements.write_text("\n".join([*kept, f"sqlalchemy=={version}", ""]))
    print(f"Installing the locked packages with SQLAlchemy {version} into {VENV.name}/")
    pip("--no-deps", "-r", str(requirements))
    pip("--no-deps", "--editable", str(ROOT))
    print(f"The data layer's tests on SQLAlchemy {version}:", flush=True)
    return subprocess.run([str(PYTHON), "-m", "pytest", "-q", *TESTS], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
