"""Routes added to the app itself (serving/routing.py): FastAPI's one reach, by name, and that the
app serves them as `include_router` would."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, status
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from notes_api import health
from notes_api.notes import routes as notes
from notes_api.serving.routing import ROUTE_OPTIONS, add_routes, refuse_other_methods


async def nothing() -> None:
    pass


def every_option() -> APIRouter:
    """A router whose one route is made with many of `add_api_route`'s arguments set."""
    router = APIRouter(prefix="/things", tags=["things"])

    @router.post(
        "/{thing}",
        status_code=status.HTTP_201_CREATED,
        response_model=dict[str, int],
        dependencies=[Depends(nothing)],
        responses={404: {"description": "No such thing"}},
        summary="Make a thing",
        description="Makes it.",
        response_description="The thing",
        deprecated=True,
        operation_id="make_thing",
        name="make",
        openapi_extra={"x-thing": True},
    )
    async def make(thing: int) -> dict[str, int]:
        return {"thing": thing}

    return router


def test_fastapi_api_routes_keep_each_add_api_route_argument_under_its_name() -> None:
    # add_routes makes each route again from these attributes: one stored altered would show as
    # a route that differs from the one it was made from.
    assert {"path", "endpoint", "methods", "response_model", "dependencies"} <= set(ROUTE_OPTIONS)
    for name in ROUTE_OPTIONS:
        assert name in inspect.signature(APIRoute).parameters, name
    for router in (every_option(), notes.reads, notes.writes, health.router):
        app = FastAPI()
        add_routes(app, router)
        for original, again in zip(
            router.routes, app.router.routes[-len(router.routes) :], strict=True
        ):
            assert isinstance(original, APIRoute)
            assert isinstance(again, APIRoute)
            for name in ROUTE_OPTIONS:
                made, given = getattr(again, name), getattr(original, name)
                assert unwrapped(made) == unwrapped(given), (original.path, name)


def unwrapped(value: Any) -> Any:
    """The value itself, for a default FastAPI keeps as a placeholder."""
    return value.value if isinstance(value, DefaultPlaceholder) else value


@pytest.mark.parametrize("add", ["add_routes", "include_router"])
def test_routes_added_to_the_app_are_documented_as_an_included_router_is(add: str) -> None:
    def document(how: str) -> dict[str, Any]:
        app = FastAPI()
        router = every_option()
        extra: dict[int | str, dict[str, Any]] = {503: {"description": "Busy"}}
        if how == "add_routes":
            add_routes(app, router, dependencies=[Depends(nothing)], responses=extra)
        else:
            app.include_router(router, dependencies=[Depends(nothing)], responses=extra)
        return app.openapi()

    assert document(add) == document("include_router")


def test_other_methods_of_a_path_get_405_with_every_method_it_serves() -> None:
    app = FastAPI()
    reads, writes = APIRouter(prefix="/things"), APIRouter(prefix="/things")
    reads.add_api_route("/{thing}", nothing, methods=["GET"])
    writes.add_api_route("/{thing}", nothing, methods=["PUT", "DELETE"])
    add_routes(app, reads)
    refuse_other_methods(app, reads, writes)
    add_routes(app, writes)

    answer = TestClient(app).post("/things/1")

    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, PUT, DELETE"
    assert answer.json() == {"detail": "Method Not Allowed"}
