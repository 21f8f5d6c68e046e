"""The app create_app() builds: its API documentation, CORS, and what its lifespan settles."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from notes_api.app import create_app
from notes_api.config import Settings


def test_startup_objects_are_left_out_of_garbage_collection(settings: Settings) -> None:
    gc.unfreeze()
    app = create_app(settings)
    with TestClient(app):
        collected = [gc.get_objects(generation) for generation in range(3)]

    # Frozen (app.settle_startup_objects): full collections no longer walk the app, its routes
    # and models.
    tracked = [o for objects in collected for o in objects if o is app or o is app.router]
    assert tracked == []


def test_docs_and_redoc_are_served(api: TestClient) -> None:
    assert "swagger-ui" in api.get("/docs").text
    assert "redoc" in api.get("/redoc").text
    spec = api.get("/openapi.json").json()
    assert spec["info"]["title"] == "notes-api"
    assert 'rel="next"' in spec["info"]["description"]


def test_openapi_documents_every_error_answer(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    by_id = paths["/notes/{note_id}"]

    for method in ("get", "put", "patch", "delete"):
        assert {"200", "404", "422"} <= set(by_id[method]["responses"]), method
    assert {"200", "422"} <= set(paths["/notes"]["post"]["responses"])
    assert {"200", "422"} <= set(paths["/notes"]["get"]["responses"])
    assert "503" in paths["/ready"]["get"]["responses"]


def test_cors_allows_only_configured_origins(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["http://localhost:3000"]}))
    with TestClient(app) as client:
        allowed = client.options(
            "/notes",
            headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
        )
        refused = client.options(
            "/notes",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "access-control-allow-origin" not in refused.headers
