"""The tests themselves, read as the spec they are: each one asserts something, itself or through
a helper whose name says it asserts (assert_*, expect_*). "It ran without an exception" is no claim.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator

from tests.support import ROOT

TestFunction = ast.FunctionDef | ast.AsyncFunctionDef


def collected_tests(module: ast.Module) -> Iterator[TestFunction]:
    """The test functions pytest collects from a module: at its top, or in its classes."""
    for node in module.body:
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        for member in members:
            if isinstance(member, TestFunction) and member.name.startswith("test"):
                yield member


def how_it_asserts(test: TestFunction) -> list[str]:
    """What in the test asserts, nested scenarios included: `assert` statements, pytest.raises or
    pytest.fail, and helpers named for it (assert_*, expect_*)."""
    found = []
    for node in ast.walk(test):
        if isinstance(node, ast.Assert):
            found.append("assert")
        elif isinstance(node, ast.Call):
            called = ast.unparse(node.func)  # `pytest.raises`, `assert_demo_curl_session`
            helper = called.rpartition(".")[2]
            if called in ("pytest.raises", "pytest.fail") or helper.startswith(
                ("assert_", "expect_")
            ):
                found.append(called)
    return found


def test_every_test_asserts_directly_or_through_a_helper_named_for_it() -> None:
    silent = [
        f"{path.relative_to(ROOT)}:{test.lineno} {test.name}"
        for path in sorted((ROOT / "tests").rglob("test_*.py"))
        for test in collected_tests(ast.parse(path.read_text(), str(path)))
        if not how_it_asserts(test)
    ]

    assert silent == []


def test_the_scan_tells_a_test_that_only_runs_code_from_one_that_asserts() -> None:
    module = ast.parse(
        textwrap.dedent(
            """
            def test_only_runs():
                main()

            def test_asserts():
                assert main() == 0

            def test_expects_an_error():
                with pytest.raises(ValueError):
                    main()

            def test_through_a_helper():
                assert_demo_session(base)

            class TestInAClass:
                def test_in_a_scenario(self):
                    async def scenario(database):
                        assert await database.fetch_val(COUNT) == 0

                    on_database(url, scenario)
            """
        )
    )

    assert {test.name: how_it_asserts(test) for test in collected_tests(module)} == {
        "test_only_runs": [],
        "test_asserts": ["assert"],
        "test_expects_an_error": ["pytest.raises"],
        "test_through_a_helper": ["assert_demo_session"],
        "test_in_a_scenario": ["assert"],
    }
