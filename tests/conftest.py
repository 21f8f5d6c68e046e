"""The test database: a fresh one per session, on the embedded PostgreSQL (default) or on the
server named by TEST_DATABASE_URL. Each test that asks for `api` (the app) or `notes_url` (the
database alone) starts with an empty table."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from notes_api.app import create_app
from notes_api.config import Settings
from notes_api.database import ConnectionTarget
from notes_api.database.migrations import upgrade
from notes_api.development.embedded import EmbeddedPostgres
from tests.support import (
    EMPTY_TABLES,
    ROOT,
    ServerProcess,
    free_port,
    reachable_dir,
    sql,
    with_database,
)


@pytest.fixture(autouse=True)
def no_process_wide_change() -> Iterator[None]:
    """Put back what the service changes for its whole process, so that no test runs in a state
    another left: the garbage collector's frozen objects (the lifespan's `gc.freeze()`) and
    logging's per-record lookups (turned off by logging.BackgroundHandler)."""
    lookups = (logging.logProcesses, logging.logThreads, logging.logMultiprocessing)
    source = logging._srcfile
    yield
    gc.unfreeze()
    logging.logProcesses, logging.logThreads, logging.logMultiprocessing = lookups
    logging._srcfile = source


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL of the PostgreSQL server the tests use, on a database that always exists."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    defaults = Settings(_env_file=None)
    server = EmbeddedPostgres(root=ROOT / defaults.embedded_db_dir, port=defaults.embedded_db_port)
    server.start()
    yield server.url()
    server.stop()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A database made for this session, and dropped after it."""
    name = f"notes_test_{uuid.uuid4().hex[:12]}"
    sql(server_url, f'CREATE DATABASE "{name}"')
    yield with_database(server_url, name)
    sql(server_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_url(database_url: str) -> str:
    """The session's database at the migrations' head, as the app's lifespan leaves it."""
    asyncio.run(upgrade(ConnectionTarget.from_url(database_url)))
    return database_url


@pytest.fixture
def notes_url(migrated_url: str) -> str:
    """The session's database, migrated, with no notes: for tests of the data layer and the
    service, which need a database and not the app."""
    sql(migrated_url, EMPTY_TABLES)
    return migrated_url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url, db_pool_min_size=1)


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    # Entering the client runs the lifespan: migrations, then the pool.
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def clean_notes(notes_url: str) -> None:
    """The session's database, migrated, with no notes: `notes_url`, for a test that does not
    need the URL (the app, a server started by a fixture of its own). It starts no app."""


@pytest.fixture
def api(client: TestClient, clean_notes: None) -> TestClient:
    """The app, in process, over an empty notes table."""
    return client


@pytest.fixture
def server(notes_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """`python src/main.py` on the test database (empty table); it must stop with exit code 0."""
    process = ServerProcess(
        {"DATABASE_URL": notes_url, "PORT": str(free_port())}, tmp_path / "server.log"
    )
    try:
        process.wait_ready()
        yield process
    finally:
        assert process.stop() == 0


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    """A data directory for an embedded PostgreSQL of the test's own (on a free port)."""
    with reachable_dir() as root:
        yield root / "postgres"


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    # The embedded server's unprivileged user (when tests run as root) must reach this directory.
    tmp_path.chmod(0o755)
    return tmp_path
