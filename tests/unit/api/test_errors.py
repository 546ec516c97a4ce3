"""One mapping from exceptions to ``{error, detail, context}`` bodies."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError

from pantheon.api.errors import install_error_handlers
from pantheon.errors import (
    AuthError,
    ConflictError,
    DatabaseUnavailableError,
    NotFoundError,
    PantheonError,
    TrainingDisabledError,
    UnknownGodError,
)

pytestmark = pytest.mark.unit


class Body(BaseModel):
    phi: float = Field(ge=0, le=1)
    prompt: str = Field(min_length=1)


def make_client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    errors: dict[str, Exception] = {
        "unknown-god": UnknownGodError("loki", ["zeus", "athena"]),
        "not-found": NotFoundError("no checkpoint 7", checkpoint_id=7),
        "auth": AuthError("invalid bearer token"),
        "conflict": ConflictError("version moved"),
        "disabled": TrainingDisabledError("TRAINING_ENABLED=false"),
        "db": DatabaseUnavailableError("database unavailable: connection refused"),
        "base": PantheonError("something deliberate"),
        "driver": OperationalError(
            "SELECT 1", {}, Exception("could not connect to postgresql://u:hunter2@db/x")
        ),
        "bug": RuntimeError("secret=hunter2 leaked into a message"),
    }

    @app.get("/raise/{name}")
    def raise_it(name: str) -> None:
        raise errors[name]

    @app.post("/body")
    def take_body(body: Body) -> dict[str, float]:
        return {"phi": body.phi}

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("unknown-god", 422, "unknown_god"),
        ("not-found", 404, "not_found"),
        ("auth", 401, "unauthorized"),
        ("conflict", 409, "conflict"),
        ("disabled", 409, "training_disabled"),
        ("db", 503, "database_unavailable"),
        ("base", 500, "pantheon_error"),
        ("driver", 503, "database_unavailable"),
        ("bug", 500, "internal_error"),
    ],
)
def test_each_error_maps_to_its_status_and_code(name: str, status: int, code: str) -> None:
    response = make_client().get(f"/raise/{name}")
    assert response.status_code == status
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]


def test_unknown_god_lists_the_valid_names() -> None:
    body = make_client().get("/raise/unknown-god").json()
    assert body["context"]["valid"] == ["zeus", "athena"]
    assert "zeus" in body["detail"]


def test_auth_errors_ask_for_a_bearer_token() -> None:
    response = make_client().get("/raise/auth")
    assert response.headers["www-authenticate"] == "Bearer"


def test_unavailable_asks_to_retry_later() -> None:
    assert make_client().get("/raise/db").headers["retry-after"] == "5"


@pytest.mark.parametrize("name", ["driver", "bug"])
def test_bodies_never_echo_secrets_from_driver_or_bug_messages(name: str) -> None:
    assert "hunter2" not in make_client().get(f"/raise/{name}").text


def test_validation_errors_list_every_bad_field_without_echoing_input() -> None:
    response = make_client().post("/body", json={"phi": 3.5, "prompt": ""})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    fields = {tuple(e["loc"]) for e in body["context"]["errors"]}
    assert fields == {("body", "phi"), ("body", "prompt")}
    assert "phi" in body["detail"]
    assert "prompt" in body["detail"]
    assert all("input" not in e for e in body["context"]["errors"])


def test_malformed_json_is_a_422_with_the_same_shape() -> None:
    response = make_client().post(
        "/body", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


def test_framework_errors_use_the_same_shape() -> None:
    client = make_client()
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong_method = client.delete("/body")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"
