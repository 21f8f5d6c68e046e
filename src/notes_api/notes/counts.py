"""How many notes a page's filters match, and where the page starts among them: for
`Prefer: count=exact` (counted) or `count=planned` (PostgreSQL's estimate, from the planner's
statistics: fast on any number of rows, and as fresh as the last ANALYZE).

Without either preference nothing here runs: counting costs a scan of the matching rows.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NamedTuple

from sqlalchemy import Select, bindparam, func, literal_column, select, text

from notes_api.database import Database, Statement
from notes_api.notes.tables import notes

Method = Literal["exact", "planned"]


class Count(NamedTuple):
    total: int  # notes matching the filters
    before: int  # of those, how many come before the cursor (`after`)


def _matching(*, completed: bool) -> Select[Any]:
    query = select(func.count().label("total")).select_from(notes)
    if completed:
        query = query.where(notes.c.completed == bindparam("completed"))
    return query


# Keyed (after given, completed given), as the pages are (service.PAGES).
EXACT = {
    (after, completed): Statement(
        _matching(completed=completed).add_columns(
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


_rows = select(notes.c.id)
_done = notes.c.completed == bindparam("completed")
_before = notes.c.id <= bindparam("after")
PLANNED = {
    (completed, before): _explained(
        _rows.where(*([_done] if completed else []), *([_before] if before else []))
    )
    for completed in (False, True)
    for before in (False, True)
}


async def count_notes(
    database: Database, *, method: Method, after: int | None, completed: bool | None
) -> Count:
    values: dict[str, Any] = {}
    if after is not None:
        values["after"] = after
    if completed is not None:
        values["completed"] = completed
    if method == "exact":
        row = await database.fetch_one(EXACT[after is not None, completed is not None], values)
        assert row is not None  # an aggregate answers one row
        return Count(row["total"], row["before"])
    filtered = {"completed": completed} if completed is not None else {}
    total = await _estimate(database, PLANNED[completed is not None, False], filtered)
    if after is None:
        return Count(total, 0)
    before = await _estimate(database, PLANNED[completed is not None, True], values)
    return Count(total, min(before, total))


async def _estimate(database: Database, explain: Statement, values: dict[str, Any]) -> int:
    plan = await database.fetch_val(explain, values)
    rows: int = json.loads(plan)[0]["Plan"]["Plan Rows"]
    return rows
