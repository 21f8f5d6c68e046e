"""How many notes a page's filters match, and where the page starts among them: for
`Prefer: count=exact` (counted) or `count=planned` (PostgreSQL's estimate, from the planner's
statistics: fast on any number of rows, and as fresh as the last ANALYZE).

Without either preference nothing here runs: counting costs a scan of the matching rows.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Literal, NamedTuple, TypeAlias

from sqlalchemy import Select, bindparam, func, literal_column, select, text

from notes_api.database import Database, Statement
from notes_api.notes.service import matching
from notes_api.notes.tables import notes

Method = Literal["exact", "planned"]
Key: TypeAlias = tuple[bool, bool]


class Count(NamedTuple):
    total: int  # notes matching the filters
    before: int  # of those, how many come before the cursor (`after`)


def _matching(*, completed: bool, search: str | None) -> Select[Any]:
    query = select(func.count().label("total")).select_from(notes)
    if completed:
        query = query.where(notes.c.completed == bindparam("completed"))
    if search is not None:
        query = query.where(matching(search))
    return query


def _exact(search: str | None) -> dict[tuple[bool, bool], Statement]:
    """Keyed (after given, completed given), as the pages are (service.PAGES)."""
    return {
        (after, completed): Statement(
            _matching(completed=completed, search=search).add_columns(
                (
                    func.count().filter(notes.c.id <= bindparam("after"))
                    if after
                    else literal_column("0")
                ).label("before")
            )
        )
        for after in (False, True)
        for completed in (False, True)
    }


def _explained(query: Select[Any]) -> Statement:
    """`EXPLAIN (FORMAT JSON)` of a query: its first plan node's `Plan Rows` is the estimate."""
    sql = str(query.compile(compile_kwargs={"render_postcompile": True}))
    return Statement(text(f"EXPLAIN (FORMAT JSON) {sql}"))


def _planned(search: str | None) -> dict[tuple[bool, bool], Statement]:
    """Keyed (completed given, only those before the cursor)."""
    rows = select(notes.c.id)
    done = notes.c.completed == bindparam("completed")
    before = notes.c.id <= bindparam("after")
    searched = [matching(search)] if search is not None else []
    return {
        (completed, up_to): _explained(
            rows.where(*([done] if completed else []), *([before] if up_to else []), *searched)
        )
        for completed in (False, True)
        for up_to in (False, True)
    }


EXACT, PLANNED = _exact(None), _planned(None)


@cache
def _searched(text_search_config: str) -> tuple[dict[Key, Statement], dict[Key, Statement]]:
    """EXACT and PLANNED of the notes matching `:q` too (service.search_pages)."""
    return _exact(text_search_config), _planned(text_search_config)


async def count_notes(
    database: Database,
    *,
    method: Method,
    after: int | None,
    completed: bool | None,
    q: str | None = None,
    text_search_config: str = "simple",
) -> Count:
    filters: dict[str, Any] = {}
    if completed is not None:
        filters["completed"] = completed
    exact, planned = EXACT, PLANNED
    if q is not None:
        filters["q"] = q
        exact, planned = _searched(text_search_config)
    values = filters | ({"after": after} if after is not None else {})
    if method == "exact":
        row = await database.fetch_one(exact[after is not None, completed is not None], values)
        assert row is not None  # an aggregate answers one row
        return Count(row["total"], row["before"])
    total = await _estimate(database, planned[completed is not None, False], filters)
    if after is None:
        return Count(total, 0)
    before = await _estimate(database, planned[completed is not None, True], values)
    return Count(total, min(before, total))


async def _estimate(database: Database, explain: Statement, values: dict[str, Any]) -> int:
    plan = await database.fetch_val(explain, values)
    rows: int = json.loads(plan)[0]["Plan"]["Plan Rows"]
    return rows
