"""The OpenAPI document: valid (openapi-spec-validator), typed as clients need it, and good enough
for a generated client (openapi-python-client) to drive a whole session against the real server."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator

from notes_api.app import create_app
from notes_api.config import Settings
from tests.support import ServerProcess

PACKAGE = "notes_client"


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="open"),
        pytest.param({"api_token": "t"}, id="token for writes"),
        pytest.param({"api_token": "t", "api_token_reads": True}, id="token for all"),
        pytest.param({"cors_origins": ["http://localhost:3000"]}, id="cors"),
    ],
)
def test_openapi_document_is_valid(options: dict[str, Any]) -> None:
    # The document is built without starting the app: no database needed.
    document = create_app(Settings(_env_file=None, **options)).openapi()

    assert document["openapi"].startswith("3.1.")
    errors = OpenAPIV31SpecValidator(document).iter_errors()
    assert [f"{error.json_path}: {error.message}" for error in errors] == []


def test_completed_is_published_as_a_boolean_and_the_strings_still_work(
    api: TestClient,
) -> None:
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    for model in ("NoteIn", "NotePatch", "Note"):
        assert schemas[model]["properties"]["completed"]["type"] == "boolean", model
        assert "anyOf" not in schemas[model]["properties"]["completed"], model

    created = api.post("/notes", json={"text": "lenient", "completed": "true"})

    assert created.json()["completed"] is True


@pytest.fixture
def notes_client(server: ServerProcess, tmp_path: Path) -> Iterator[ModuleType]:
    """A client package generated from the real server's /openapi.json, importable while the
    test runs (its directory on sys.path, its modules forgotten after)."""
    document = tmp_path / "openapi.json"
    document.write_bytes(requests.get(f"{server.base}/openapi.json", timeout=5).content)
    config = tmp_path / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    generated = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            f"--path={document}",
            f"--output-path={tmp_path / PACKAGE}",
            f"--config={config}",
            "--meta=none",
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def operation(name: str) -> Any:
    """A route's module in the generated client, by the operation's name."""
    return importlib.import_module(f"{PACKAGE}.api.notes.{name}")


@pytest.mark.e2e
def test_generated_client_drives_the_crud_session(
    notes_client: ModuleType, server: ServerProcess
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    create = operation("create_note_notes_post")
    page = operation("list_notes_notes_get")
    get = operation("get_note_notes_note_id_get")
    patch = operation("update_note_notes_note_id_patch")
    put = operation("replace_note_notes_note_id_put")
    delete = operation("delete_note_notes_note_id_delete")
    # A plain boolean, not `bool | NoteInCompletedType1` (a "true"/"false" string enum).
    assert models.NoteIn.__annotations__["completed"] == "bool | Unset"

    with notes_client.Client(base_url=server.base, raise_on_unexpected_status=True) as client:
        created = [
            create.sync(client=client, body=models.NoteIn(text=f"note {i}", completed=i == 1))
            for i in range(3)
        ]
        assert [(n.text, n.completed) for n in created] == [
            ("note 0", False),
            ("note 1", True),
            ("note 2", False),
        ]
        assert isinstance(created[0].created_at, datetime)
        ids = [note.id for note in created]

        first = page.sync_detailed(client=client, take=2)
        assert [note.id for note in first.parsed] == ids[:2]
        assert first.headers["link"] == f'</notes?after={ids[1]}&take=2>; rel="next"'
        rest = page.sync(client=client, take=2, after=first.parsed[-1].id)
        assert [note.id for note in rest] == ids[2:]
        # Search: a parameter of the page's function, like the others.
        assert [note.text for note in page.sync(client=client, q="note 1")] == ["note 1"]
        assert page.sync(client=client, q='"1 note"') == []

        assert get.sync(client=client, note_id=ids[0]) == created[0]

        patched = patch.sync(client=client, note_id=ids[0], body=models.NotePatch(completed=True))
        assert (patched.text, patched.completed) == ("note 0", True)
        replaced = put.sync(client=client, note_id=ids[0], body=models.NoteIn(text="replaced"))
        assert (replaced.text, replaced.completed) == ("replaced", False)

        deleted = delete.sync(client=client, note_id=ids[0])
        assert deleted == replaced

        missing = get.sync(client=client, note_id=ids[0])
        assert isinstance(missing, models.ErrorMessage)
        assert missing.detail == "Note not found"

        invalid = create.sync(client=client, body=models.NoteIn(text=""))
        assert isinstance(invalid, models.HTTPValidationError)
        errors = [(error.loc, error.type_) for error in invalid.detail]
        assert errors == [(["body", "text"], "string_too_short")]

        remaining = page.sync(client=client)
        assert [note.id for note in remaining] == ids[1:]


@pytest.mark.e2e
def test_generated_client_sends_and_reads_the_documented_headers(
    notes_client: ModuleType, server: ServerProcess
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    create = operation("create_note_notes_post")
    page = operation("list_notes_notes_get")
    get = operation("get_note_notes_note_id_get")
    patch = operation("update_note_notes_note_id_patch")
    put = operation("replace_note_notes_note_id_put")

    with notes_client.Client(base_url=server.base) as client:
        body = models.NoteIn(text="once")
        first = create.sync_detailed(client=client, body=body, idempotency_key="key-1")
        again = create.sync_detailed(client=client, body=body, idempotency_key="key-1")
        assert again.parsed == first.parsed
        assert again.headers["idempotent-replayed"] == "true"
        note_id = first.parsed.id

        counted = page.sync_detailed(client=client, prefer="count=exact")
        assert counted.headers["content-range"] == "0-0/1"

        read = get.sync_detailed(client=client, note_id=note_id)
        assert read.headers["etag"] == '"1"'
        unchanged = get.sync_detailed(client=client, note_id=note_id, if_none_match='"1"')
        assert (unchanged.status_code, unchanged.content) == (304, b"")

        changed = patch.sync_detailed(
            client=client, note_id=note_id, body=models.NotePatch(completed=True), if_match='"1"'
        )
        assert (changed.status_code, changed.headers["etag"]) == (200, '"2"')
        stale = put.sync_detailed(
            client=client, note_id=note_id, body=models.NoteIn(text="stale"), if_match='"1"'
        )
        assert stale.status_code == 412
        assert isinstance(stale.parsed, models.ErrorMessage)
