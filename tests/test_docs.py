"""The runbook tells the truth: settings, Makefile targets and API answers are checked against the
real thing, and the site builds strictly."""

from __future__ import annotations

import ast
import inspect
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from notes_api.config import Settings
from tests.support import EMPTY_TABLES, ROOT, ServerProcess, sql

DOCS = ROOT / "docs"
# The address the examples on the API page use; the test swaps in its own server's.
DOCS_BASE = "http://127.0.0.1:5000"
# Headers whose values change from one run to the next (their names must still match).
VARYING_HEADERS = {"date", "content-length", "x-request-id"}
# Headers every answer carries: the page shows them on its first example only.
COMMON_HEADERS = VARYING_HEADERS | {
    "server",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


# -- settings -------------------------------------------------------------------------------------


def documented_default(value: Any) -> str:
    """A default as the configuration page writes it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ", ".join(value) if value else "empty"
    if isinstance(value, SecretStr):
        return "(secret)"
    return str(value)


def settings_fields() -> dict[str, str]:
    """Every setting's variable and its real default, from the Settings class."""
    prefix = Settings.model_config.get("env_prefix") or ""
    fields = {}
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        fields[f"{prefix}{name}".upper()] = documented_default(default)
    return fields


def configuration_table() -> dict[str, tuple[str, str]]:
    """The rows `| `VARIABLE` | default | meaning |` of the configuration page."""
    rows = {}
    for line in (DOCS / "configuration.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`[A-Z][A-Z0-9_]*`", cells[0]):
            rows[cells[0].strip("`")] = (cells[1].replace("`", ""), cells[2])
    return rows


def test_configuration_page_lists_every_setting_with_its_default() -> None:
    documented = configuration_table()
    expected = settings_fields()
    assert sorted(documented) == sorted(expected), "variables on the page differ from Settings"
    for variable, default in expected.items():
        page_default, meaning = documented[variable]
        assert page_default == default, f"{variable}: the page says {page_default!r}"
        assert meaning, f"{variable} has no meaning on the page"


def test_env_example_lists_every_setting_with_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    example = ROOT / ".env.example"
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example.read_text(), re.MULTILINE))
    assert set(settings_fields()) <= listed, "settings missing from .env.example"
    for variable in settings_fields():
        monkeypatch.delenv(variable, raising=False)  # read the file alone

    assert Settings(_env_file=example) == Settings(_env_file=None)


# -- Makefile -------------------------------------------------------------------------------------


def makefile_targets() -> list[str]:
    # The same lines `make help` lists.
    text = (ROOT / "Makefile").read_text()
    return re.findall(r"^([a-zA-Z_-]+):.*## ", text, flags=re.MULTILINE)


def test_running_page_names_every_makefile_target() -> None:
    page = (DOCS / "running.md").read_text()
    targets = makefile_targets()
    assert "run" in targets
    missing = [t for t in targets if not re.search(rf"`make {re.escape(t)}[` ]", page)]
    assert missing == [], f"targets missing from docs/running.md: {missing}"


# -- ports and the programs tests need -----------------------------------------------------------


def variable_defaults() -> dict[str, str]:
    """Each variable's default: `.env.example`'s `NAME=value` and the Makefile's `NAME ?= value`."""
    settings = (ROOT / ".env.example").read_text()
    makefile = (ROOT / "Makefile").read_text()
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", settings, flags=re.MULTILINE)) | dict(
        re.findall(r"^([A-Z][A-Z0-9_]*) \?= (.*)$", makefile, flags=re.MULTILINE)
    )


def test_ports_in_the_readme_and_docs_come_with_the_variable_that_changes_them() -> None:
    # "127.0.0.1:5433 (`EMBEDDED_DB_PORT`)": what a user needs when that port is taken.
    defaults = variable_defaults()
    named = set()
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        pairs = re.findall(r":(\d{4,5})>?\** \(`?([A-Z][A-Z0-9_]*PORT)\b", page.read_text())
        for port, variable in pairs:
            assert defaults.get(variable) == port, f"{page.name}: {port} ({variable})"
            named.add((page.name, variable))
    assert {("README.md", "EMBEDDED_DB_PORT"), ("load-testing.md", "LOCUST_PORT")} <= named


def ci_apt_packages() -> set[str]:
    """The Debian packages `.ci/run` installs for the tests (its `apt_packages` list)."""
    script = (ROOT / ".ci" / "run").read_text()
    block = re.search(r"^apt_packages=\((.*?)^\)", script, flags=re.MULTILINE | re.DOTALL)
    assert block is not None
    return {word for line in block[1].splitlines() for word in line.split("#")[0].split()}


def test_testing_page_installs_every_program_the_tests_use() -> None:
    page = (DOCS / "testing.md").read_text()
    (packages,) = re.findall(r"^sudo apt-get install (.+)$", page, flags=re.MULTILINE)
    assert set(packages.split()) == ci_apt_packages()


# -- the API page ---------------------------------------------------------------------------------


@dataclass
class CurlExample:
    """A ```console block: `$ curl ...` and the answer written under it."""

    command: str
    answer: list[str]
    first_line: int  # of the block's content in the page, 0-based
    last_line: int  # exclusive

    def args(self, base: str) -> list[str]:
        return [arg.replace(DOCS_BASE, base) for arg in shlex.split(self.command)]


def curl_examples(page: str) -> list[CurlExample]:
    lines = page.splitlines()
    examples = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        start = index + 1
        end = start
        while lines[end].strip() != "```":
            end += 1
        block = lines[start:end]
        if block and block[0].startswith("$ curl "):
            examples.append(CurlExample(block[0][2:], block[1:], start, end))
        index = end + 1
    return examples


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: str

    @classmethod
    def parse(cls, text: str) -> Answer:
        text = text.replace("\r\n", "\n")
        head, _, body = text.partition("\n\n")
        status, *header_lines = head.split("\n")
        headers = [
            (n.strip().lower(), v.strip()) for n, _, v in (h.partition(":") for h in header_lines)
        ]
        return cls(status.strip(), headers, body.strip())

    def without(self, names: set[str]) -> Answer:
        return Answer(self.status, [(n, v) for n, v in self.headers if n not in names], self.body)

    def lines(self) -> list[str]:
        """As the page shows it (and curl -i prints it)."""
        return [self.status, *(f"{n}: {v}" for n, v in self.headers), "", self.body]


def normalised(value: Any) -> Any:
    """JSON with the values that legitimately vary (timestamps) replaced by a marker."""
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, str) and TIMESTAMP.match(value):
        return "<timestamp>"
    return value


def json_or_empty(body: str) -> Any:
    """A body as JSON, normalised; an empty one (a 304's) as it is."""
    return normalised(json.loads(body)) if body else body


def run_curl(example: CurlExample, base: str) -> Answer:
    result = subprocess.run(
        example.args(base), capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, f"{example.command}: {result.stderr}"
    return Answer.parse(result.stdout)


def test_api_page_examples_are_parsed() -> None:
    examples = curl_examples((DOCS / "api.md").read_text())
    assert len(examples) >= 20
    methods = {
        a for e in examples for a in e.args(DOCS_BASE) if a in ("POST", "PUT", "PATCH", "DELETE")
    }
    assert methods == {"POST", "PUT", "PATCH", "DELETE"}
    for example in examples:
        assert example.answer, f"no answer written under {example.command}"
        assert DOCS_BASE in example.command


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl: apt-get install curl")
def test_api_page_examples_answer_as_written(server: ServerProcess) -> None:
    # In page order, on an empty table: the ids on the page are the ids the database gives.
    for number, example in enumerate(curl_examples((DOCS / "api.md").read_text())):
        written = Answer.parse("\n".join(example.answer))
        actual = run_curl(example, server.base)
        where = f"docs/api.md: {example.command}"
        # The status line, less its reason phrase: Python's http.HTTPStatus gives it, and 3.13
        # renamed 422's (RFC 9110: "Unprocessable Content", was "Unprocessable Entity").
        assert actual.status.split()[:2] == written.status.split()[:2], where
        shown = actual if number == 0 else actual.without(COMMON_HEADERS)
        assert [n for n, _ in shown.headers] == [n for n, _ in written.headers], where
        for (name, value), (_, written_value) in zip(shown.headers, written.headers, strict=True):
            if name not in VARYING_HEADERS:
                assert value == written_value, f"{where}: header {name}"
        assert json_or_empty(actual.body) == json_or_empty(written.body), where


# -- Python on the pages ---------------------------------------------------------------------------


@dataclass
class PythonBlock:
    """A ```python block: an excerpt of a file (`title="path"`), or an example to run."""

    where: str  # page:line, for messages
    title: str | None
    code: str


def python_blocks() -> list[PythonBlock]:
    blocks = []
    for page in sorted([*DOCS.glob("*.md"), ROOT / "README.md"]):
        lines = page.read_text().splitlines()
        for number, line in enumerate(lines):
            fence = re.fullmatch(r'(\s*)```python(?:\s+title="([^"]+)")?\s*', line)
            if fence is None:
                continue
            indent, title = len(fence[1]), fence[2]
            end = next(i for i in range(number + 1, len(lines)) if lines[i].strip() == "```")
            code = "\n".join(text[indent:] for text in lines[number + 1 : end])
            blocks.append(PythonBlock(f"{page.name}:{number + 1}", title, code))
    return blocks


def compiled(block: PythonBlock) -> Any:
    # Examples may `await` at the top, as in an async REPL (python -m asyncio).
    return compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_every_python_block_on_the_pages_compiles() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 5
    for block in blocks:
        compiled(block)


def test_python_excerpts_are_the_files_they_quote() -> None:
    for block in python_blocks():
        if block.title is not None:
            quoted = (ROOT / block.title).read_text()
            assert block.code in quoted, f"{block.where} is not what {block.title} says"


def test_python_examples_run_on_the_services_database(api: TestClient, database_url: str) -> None:
    # Each on an empty table, with `database` the app's own (its lifespan's).
    database = api.app_state["database"]
    assert api.portal is not None

    async def run(code: Any) -> None:
        result = eval(code, {"database": database})
        if inspect.iscoroutine(result):
            await result

    examples = [block for block in python_blocks() if block.title is None]
    assert examples
    for block in examples:
        sql(database_url, EMPTY_TABLES)
        try:
            api.portal.call(run, compiled(block))
        except Exception as error:
            raise AssertionError(f"{block.where} fails: {error!r}") from error


# -- the site -------------------------------------------------------------------------------------


def test_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "api" / "index.html").exists()


def test_pages_show_only_images_that_exist() -> None:
    for page in DOCS.glob("*.md"):
        for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text()):
            assert (page.parent / image).is_file(), f"{page.name} shows a missing {image}"


def layout(page: Path) -> list[str]:
    """The paths a page's `## Layout` names, one a line (a folder ends in `/`)."""
    found = re.search(r"## Layout\n\n```(?:text)?\n(.*?)```", page.read_text(), re.S)
    assert found, f"{page.name} has no layout"
    return [line.split()[0] for line in found[1].splitlines() if line.strip()]


def test_the_site_and_the_readme_show_the_same_layout() -> None:
    readme = (ROOT / "README.md").read_text().split("## Layout")[1].split("\n## ")[0]
    site = (DOCS / "index.md").read_text().split("## Layout")[1].split("\n## ")[0]
    assert readme == site


def test_the_layout_names_what_is_there_and_everything_that_is() -> None:
    named = layout(ROOT / "README.md")
    for path in named:
        assert (ROOT / path).exists(), f"the layout names {path}, which is not there"
        assert (ROOT / path).is_dir() == path.endswith("/"), f"{path}: a folder ends in /"
    folders = tuple(path for path in named if path.endswith("/"))
    tree = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    tree += [f"{name}/" for name in CODE if not any(path.startswith(f"{name}/") for path in named)]
    unnamed = [path for path in tree if path not in named and not path.startswith(folders)]
    assert unnamed == [], f"the layout does not name {unnamed}"


# The top-level folders the layout must name; the rest (.github, .data, .venv...) are not code.
CODE = {"src", "tests", "bench", "scripts", "docs"}
