"""The app factory and its OpenAPI document (no service is contacted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from pantheon.api.app import app_factory, create_app
from pantheon.api.middleware import HeapReleaseMiddleware
from pantheon.config import Settings
from pantheon.errors import ConfigurationError

pytestmark = pytest.mark.unit


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"env": "test", "data_dir": tmp_path, "task_mode": "sync"}
    values.update(overrides)
    return Settings(**values)


def openapi(tmp_path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = create_app(settings(tmp_path)).openapi()
    return schema


def test_every_error_answer_is_documented_with_the_one_error_body(tmp_path: Path) -> None:
    schema = openapi(tmp_path)
    assert "HTTPValidationError" not in str(schema)
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/api/health":
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (method, path, status)


def test_every_post_documents_auth_size_and_validation_errors(tmp_path: Path) -> None:
    schema = openapi(tmp_path)
    posts = [(p, m["post"]) for p, m in schema["paths"].items() if "post" in m]
    assert {p for p, _ in posts} == {
        "/api/outcomes",
        "/api/outcomes/batch",
        "/api/route",
        "/api/training/{job}",
        "/api/transfer",
        "/api/checkpoints",
        "/api/checkpoints/{checkpoint_id}/restore",
        "/api/cron/wake",
    }
    for path, operation in posts:
        assert {"401", "413", "422"} <= set(operation["responses"]), path
        if path != "/api/cron/wake":  # the cron route has its own secret
            assert operation["security"] == [{"HTTPBearer": []}], path
    assert set(schema["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}


def test_answers_serialised_by_the_route_keep_their_documented_schemas(tmp_path: Path) -> None:
    """Intake and routing return a ready JSON response, serialised once; OpenAPI still
    shows each answer's model."""
    paths = openapi(tmp_path)["paths"]

    def answer(path: str, status: str) -> str:
        ref: str = paths[path]["post"]["responses"][status]["content"]["application/json"][
            "schema"
        ]["$ref"]
        return ref.rsplit("/", 1)[-1]

    assert answer("/api/outcomes", "202") == "OutcomeAccepted"
    assert answer("/api/outcomes", "200") == "OutcomeAccepted"
    assert answer("/api/outcomes/batch", "202") == "BatchAccepted"
    assert answer("/api/route", "200") == "RouteOut"


def test_the_outcome_body_is_the_intakes_model(tmp_path: Path) -> None:
    schema = openapi(tmp_path)
    body = schema["components"]["schemas"]["OutcomeIn"]
    assert set(body["required"]) == {"god_name", "prompt", "response", "success"}
    assert {"phi", "kappa", "coherence_score", "score", "basin_trajectory", "outcome_key"} <= set(
        body["properties"]
    )


def test_production_refuses_default_secrets(tmp_path: Path) -> None:
    unsafe = settings(
        tmp_path,
        env="production",
        api_token=SecretStr("changeme"),
        database_url_raw="postgresql://u@h/db",
    )
    with pytest.raises(ConfigurationError):
        create_app(unsafe)
    no_token = settings(tmp_path, env="production", database_url_raw="postgresql://u@h/db")
    with pytest.raises(ConfigurationError):
        create_app(no_token)
    safe = settings(
        tmp_path,
        env="production",
        api_token=SecretStr("a-real-secret-token-123"),
        database_url_raw="postgresql://u@h/db",
    )
    assert create_app(safe).title == "Pantheon"


def test_the_factory_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTHEON_ENV", "test")
    monkeypatch.setenv("PANTHEON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PANTHEON_MAX_BODY_BYTES", "2048")
    app = app_factory()
    assert app.state.pantheon.settings.max_body_bytes == 2048


def test_the_dashboard_needs_no_other_host(tmp_path: Path) -> None:
    client = TestClient(create_app(settings(tmp_path)))
    page = client.get("/").text
    script = client.get("/static/dashboard.js").text
    for text in (page, script):
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text
    assert client.get("/static/vendor/uPlot.LICENSE").status_code == 200


def test_the_app_hands_back_the_heap_of_large_requests(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    classes: list[object] = [m.cls for m in app.user_middleware]
    assert HeapReleaseMiddleware in classes
