"""How routers' routes reach the app: added to it directly, and every other method refused with 405.

FastAPI (and Starlette) reach here only through public API but for one reach, named below and
in tests/serving/test_routing.py: that an APIRoute keeps each of `add_api_route`'s arguments
under the argument's own name.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from fastapi import APIRouter, FastAPI, params
from fastapi.routing import APIRoute

from notes_api.errors import method_not_allowed

# Every method a request may name; the routes of a path that serve some get 405 for the others.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")

# What `add_api_route` takes, and an APIRoute keeps under the same name (the one reach).
ROUTE_OPTIONS = [
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in ("self", "route_class_override")
]


def add_routes(
    app: FastAPI,
    router: APIRouter,
    *,
    dependencies: Sequence[params.Depends] = (),
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> None:
    """Add the router's routes to the app itself, with these dependencies and responses too.

    What `app.include_router` does, but for what it keeps at request time: FastAPI matches an
    included router's routes through a layer of its own, which cost every request several percent
    (docs/performance.md, step 18). Each route is added again with all it was made with.
    """
    for route in router.routes:
        assert isinstance(route, APIRoute), f"not an API route: {route!r}"
        options = {name: getattr(route, name) for name in ROUTE_OPTIONS}
        options["dependencies"] = [*dependencies, *route.dependencies]
        options["responses"] = (responses or {}) | route.responses
        app.router.add_api_route(**options)


def refuse_other_methods(app: FastAPI, *routers: APIRouter) -> None:
    """Answer 405, with every method a path serves in `Allow`, to the methods it does not, on each
    path of `routers` (which may serve one path between them: reads and writes).

    Starlette's own 405 names only the methods of the first route whose path matches, and
    `/notes/all` also matches `/notes/{note_id}`, where a PUT would get a 422 for its id. Routes
    match in the order they are added: call this before adding any route whose path could match
    another's path (the writes on `/notes/{note_id}`).
    """
    served: dict[str, set[str]] = {}
    for router in routers:
        for route in router.routes:
            assert isinstance(route, APIRoute), f"not an API route: {route!r}"
            served.setdefault(route.path, set()).update(route.methods or ())
    for path, methods in served.items():
        allow = ", ".join(method for method in METHODS if method in methods)
        others = [method for method in METHODS if method not in methods]
        app.router.add_api_route(path, answer_405(allow), methods=others, response_model=None,
                                 include_in_schema=False)  # fmt: skip


def answer_405(allow: str) -> Callable[[], Awaitable[NoReturn]]:
    async def answer() -> NoReturn:
        raise method_not_allowed(allow).exception()

    return answer
