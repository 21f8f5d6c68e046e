"""The GitHub workflows, which cannot run here: they pass zizmor's security audit, run the gates
`.ci/run` runs, on the project's Python, and only the job that publishes the docs may write."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    # YAML 1.1 reads the key `on` as the boolean true.
    loaded["on"] = loaded.pop(True)
    return loaded


def all_workflows() -> dict[str, dict[str, Any]]:
    return {path.name: workflow(path.name) for path in sorted(WORKFLOWS.glob("*.yml"))}


def make_targets(commands: str) -> set[str]:
    return set(re.findall(r"\bmake ([a-z][a-z-]*)", commands))


def runs(job: dict[str, Any]) -> str:
    return "\n".join(step["run"] for step in job["steps"] if "run" in step)


def test_workflows_pass_zizmors_audit() -> None:
    # Unpinned actions, broad permissions, credentials left in the checkout, injections...
    zizmor = shutil.which("zizmor", path=Path(sys.executable).parent)
    if zizmor is None:
        pytest.skip("zizmor is not installed in this environment (poetry install --with dev)")
    result = subprocess.run(
        [zizmor, "--offline", "--no-progress", str(WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_only_the_docs_deploy_job_may_write() -> None:
    writers = {}
    for name, flow in all_workflows().items():
        assert flow["permissions"] == {}, f"{name}: jobs get no permission by default"
        for job_name, job in flow["jobs"].items():
            assert "permissions" in job, f"{name}: {job_name} says what it needs"
            granted = job["permissions"]
            if "write" in granted.values():
                writers[f"{name}:{job_name}"] = granted
    assert writers == {"docs.yml:deploy": {"pages": "write", "id-token": "write"}}


def test_ci_runs_the_gates_of_ci_run_against_a_postgres_service() -> None:
    ci = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    (job,) = ci["jobs"].values()
    ci_run = (ROOT / ".ci" / "run").read_text()
    gates = make_targets("\n".join(line for line in ci_run.splitlines() if line.startswith("step")))
    assert {"check", "docs-build", "test"} <= gates
    assert gates <= make_targets(runs(job))
    # The Debian packages come from .ci/run's own list, not a copy of it.
    assert ".ci/run" in runs(job)
    assert "apt_packages" in runs(job)
    # The job runs in a container, so the service is reached by its name, with its password.
    postgres = job["services"]["postgres"]
    assert "pg_isready" in postgres["options"]  # the job waits until it accepts connections
    password = postgres["env"]["POSTGRES_PASSWORD"]
    assert job["env"]["TEST_DATABASE_URL"] == (
        f"postgresql://postgres:{password}@postgres:5432/postgres"
    )


def test_workflows_build_on_the_projects_oldest_python() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    oldest = re.search(r">=\s*(\d+\.\d+)", requires)
    assert oldest is not None
    ci, docs = workflow("ci.yml"), workflow("docs.yml")
    (test,) = ci["jobs"].values()
    assert test["container"].startswith(f"python:{oldest[1]}-")
    setups = [s for s in docs["jobs"]["build"]["steps"] if "setup-python" in s.get("uses", "")]
    assert [s["with"]["python-version"] for s in setups] == [oldest[1]]


def test_docs_are_built_strictly_then_deployed_to_pages_from_main() -> None:
    docs = workflow("docs.yml")
    assert docs["on"]["push"]["branches"] == ["main"]
    build, deploy = docs["jobs"]["build"], docs["jobs"]["deploy"]
    assert "make docs-build" in runs(build)  # mkdocs build --strict
    assert "poetry" not in runs(build)  # make installs from poetry.lock with Python alone
    (upload,) = [s for s in build["steps"] if "upload-pages-artifact" in s.get("uses", "")]
    site_dir = yaml.safe_load((ROOT / "mkdocs.yml").read_text()).get("site_dir", "site")
    assert upload["with"]["path"] == site_dir
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    assert any("deploy-pages" in s.get("uses", "") for s in deploy["steps"]), deploy["steps"]
