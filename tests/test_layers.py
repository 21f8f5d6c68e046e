"""The layout teaches: a request for a note goes through the notes' files and a few beside them,
the machinery stays behind its doors (database/, serving/, observability/, development/), no
import goes round in a circle, and no module grows past what a reader takes in at once.

The rules between layers are import-linter's contracts (pyproject.toml, `make check`); these are
the ones a contract cannot state.
"""

from __future__ import annotations

import ast
import asyncio
import sys
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import grimp

from notes_api.app import create_app
from notes_api.config import Settings
from notes_api.database import Database
from tests.support import ROOT, sql

PACKAGE = ROOT / "src" / "notes_api"
DOORS = ("database/", "serving/", "development/", "observability/")
LONGEST_MODULE = 250


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("notes_api")
    circles = [
        (module, imported)
        for module in sorted(graph.modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    ]
    assert circles == []


def test_the_entry_point_speaks_neither_the_driver_nor_the_data_layers_libraries() -> None:
    # src/main.py is outside the package import-linter reads.
    imported = set()
    for node in ast.walk(ast.parse((ROOT / "src" / "main.py").read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported.isdisjoint({"asyncpg", "databases", "sqlalchemy", "alembic"}), imported


def test_no_module_is_longer_than_a_reader_takes_in_at_once() -> None:
    lengths = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert {name: n for name, n in lengths.items() if n > LONGEST_MODULE} == {}


def test_a_get_of_a_note_runs_through_three_files_outside_the_doors(
    settings: Settings, notes_url: str
) -> None:
    sql(notes_url, "INSERT INTO notes (text) VALUES ('traced')")
    called = asyncio.run(files_called(create_app(settings), notes_url, "/notes/1"))

    outside = sorted(name for name in called if not name.startswith(DOORS))
    assert outside == ["dependencies.py", "notes/routes.py", "notes/service.py"], called
    # What a reader follows: app.py adds the route; notes/tables.py is the statement's table.
    assert len({*outside, "app.py", "notes/tables.py"}) <= 5


async def files_called(app: Any, url: str, path: str) -> Counter[str]:
    """The package's files whose functions the app calls to answer GET `path` (its answer must
    be 200), with how many calls each: traced in this thread, where the app runs."""
    calls: Counter[str] = Counter()
    answer: list[dict[str, Any]] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(str(PACKAGE)):
            calls[str(Path(frame.f_code.co_filename).relative_to(PACKAGE))] += 1

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    async with Database(url, min_size=1) as database:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"test")],
            "client": ("127.0.0.1", 1234),
            "server": ("127.0.0.1", 5000),
            # What the lifespan hands every request.
            "state": {"database": database, "read_database": database},
        }
        await app(scope, receive, send)  # once untraced: Starlette builds its stack lazily
        answer.clear()
        sys.setprofile(profile)
        try:
            await app(scope, receive, send)
        finally:
            sys.setprofile(None)
    assert answer[0]["status"] == 200, answer
    return calls
