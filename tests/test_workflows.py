"""The GitHub workflows, which cannot run here, are at least valid and wired as intended."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    # YAML 1.1 reads the key `on` as the boolean true.
    loaded["on"] = loaded.pop(True)
    return loaded


def steps_of(job: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The `uses:` actions (without versions) and `run:` commands of a job."""
    uses = [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    return uses, runs


def test_ci_runs_the_gates_against_a_postgres_service() -> None:
    ci = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    (job,) = ci["jobs"].values()
    assert job["services"]["postgres"]["image"] == "postgres:16"
    assert "pg_isready" in job["services"]["postgres"]["options"]
    # The job runs in a container, so the service is reached by its name, with its password.
    password = job["services"]["postgres"]["env"]["POSTGRES_PASSWORD"]
    assert job["env"]["TEST_DATABASE_URL"] == (
        f"postgresql://postgres:{password}@postgres:5432/postgres"
    )
    uses, runs = steps_of(job)
    assert uses[0] == "actions/checkout"
    assert runs.index("make check") < runs.index("make test")
    assert "make docs-build" in runs
    assert any(".ci/run" in run and "apt-get install" in run for run in runs)


def test_docs_builds_strictly_and_deploys_to_pages_from_main() -> None:
    docs = workflow("docs.yml")
    assert docs["on"]["push"]["branches"] == ["main"]
    assert docs["permissions"]["pages"] == "write"
    assert docs["permissions"]["id-token"] == "write"
    build, deploy = docs["jobs"]["build"], docs["jobs"]["deploy"]
    uses, runs = steps_of(build)
    assert uses[:2] == ["actions/checkout", "actions/setup-python"]
    assert build["steps"][1]["with"]["python-version"] == "3.11"
    assert any("poetry-plugin-export" in run for run in runs)
    assert "make docs-build" in runs
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == "site"
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    assert steps_of(deploy)[0] == ["actions/deploy-pages"]
