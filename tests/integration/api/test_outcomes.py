"""POST /api/outcomes and /api/outcomes/batch against real PostgreSQL, sync mode."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pantheon.errors import BrokerUnavailableError
from tests.integration.api.conftest import MakeClient, outcome

pytestmark = pytest.mark.integration


def stored(client: TestClient) -> int:
    return int(client.get("/api/stats").json()["outcomes"])


def test_one_outcome_is_stored_then_trained(client: TestClient) -> None:
    response = client.post("/api/outcomes", json=outcome(outcome_key="k-1"))
    assert response.status_code == 202
    body = response.json()
    assert body["mode"] == "sync"
    assert body["duplicate"] is False
    assert isinstance(body["outcome_id"], int)
    task = client.get(f"/api/tasks/{body['task_id']}").json()
    assert task["state"] == "SUCCESS"
    assert task["ready"] is True
    assert task["result"]["status"] == "success"
    zeus = client.get("/api/kernels/zeus").json()
    assert zeus["outcomes_trained"] == 1
    assert zeus["step_count"] >= 1


def test_the_same_outcome_key_is_one_outcome(client: TestClient) -> None:
    first = client.post("/api/outcomes", json=outcome(outcome_key="same"))
    again = client.post("/api/outcomes", json=outcome(outcome_key="same", prompt="other"))
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {
        "outcome_id": first.json()["outcome_id"],
        "task_id": None,
        "mode": "none",
        "duplicate": True,
    }
    assert stored(client) == 1
    assert client.get("/api/kernels/zeus").json()["outcomes_trained"] == 1


def test_god_names_are_case_insensitive(client: TestClient) -> None:
    assert client.post("/api/outcomes", json=outcome(god="ATHENA")).status_code == 202
    assert client.get("/api/kernels/athena").json()["outcomes_trained"] == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"phi": 1.5}, "phi"),
        ({"coherence_score": -0.1}, "coherence_score"),
        ({"score": 2}, "score"),
        ({"success": "maybe"}, "success"),
        ({"basin_trajectory": [[0.1, 0.2]]}, "basin_trajectory"),
    ],
)
def test_bad_fields_are_422_naming_the_field(
    client: TestClient, fields: dict[str, Any], field: str
) -> None:
    response = client.post("/api/outcomes", json=outcome(**fields))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in response.text
    assert stored(client) == 0


def test_missing_required_fields_are_listed(client: TestClient) -> None:
    response = client.post("/api/outcomes", json={"god_name": "zeus"})
    assert response.status_code == 422
    missing = {e["loc"][-1] for e in response.json()["context"]["errors"]}
    assert {"prompt", "success"} <= missing


def test_unknown_god_lists_the_valid_names(client: TestClient) -> None:
    response = client.post("/api/outcomes", json=outcome(god="loki"))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "unknown_god"
    assert "zeus" in body["context"]["valid"]
    assert stored(client) == 0


def test_non_finite_numbers_are_refused(client: TestClient) -> None:
    raw = b'{"god_name": "zeus", "prompt": "p", "response": "r", "success": true, "phi": NaN}'
    response = client.post(
        "/api/outcomes", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert stored(client) == 0


def test_over_long_text_is_refused(make_client: MakeClient) -> None:
    client = make_client(max_prompt_chars=50)
    response = client.post("/api/outcomes", json=outcome(prompt="x" * 51))
    assert response.status_code == 422
    assert "prompt" in response.text
    assert stored(client) == 0


def test_a_body_over_the_cap_is_413(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=4096)
    response = client.post("/api/outcomes", json=outcome(response="y" * 5000))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert stored(client) == 0


def test_a_batch_is_stored_and_trained_once_per_god(client: TestClient) -> None:
    batch = [
        outcome("zeus", "a", outcome_key="b-1"),
        outcome("zeus", "b", outcome_key="b-2", success=False),
        outcome("hermes", "c", outcome_key="b-3"),
    ]
    response = client.post("/api/outcomes/batch", json={"outcomes": batch})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 3
    assert body["duplicates"] == 0
    assert len(set(body["outcome_ids"])) == 3
    assert sorted(t["god_name"] for t in body["tasks"]) == ["hermes", "zeus"]
    # One dispatch per god; the online step coalesced zeus's two pending outcomes.
    assert client.get("/api/kernels/zeus").json()["outcomes_trained"] == 2
    assert client.get("/api/kernels/hermes").json()["outcomes_trained"] == 1

    again = client.post("/api/outcomes/batch", json={"outcomes": batch}).json()
    assert again["accepted"] == 0
    assert again["duplicates"] == 3
    assert again["outcome_ids"] == body["outcome_ids"]
    assert again["tasks"] == []
    assert stored(client) == 3


def test_a_batch_with_one_bad_outcome_stores_nothing(client: TestClient) -> None:
    batch = [outcome("zeus", "fine"), outcome("loki", "unknown god")]
    response = client.post("/api/outcomes/batch", json={"outcomes": batch})
    assert response.status_code == 422
    assert stored(client) == 0


def test_a_batch_over_the_limit_is_refused(make_client: MakeClient) -> None:
    client = make_client(max_batch=3)
    batch = [outcome("zeus", f"p{i}") for i in range(4)]
    response = client.post("/api/outcomes/batch", json={"outcomes": batch})
    assert response.status_code == 422
    assert response.json()["context"] == {"size": 4, "limit": 3}
    assert stored(client) == 0


def test_an_empty_batch_is_refused(client: TestClient) -> None:
    assert client.post("/api/outcomes/batch", json={"outcomes": []}).status_code == 422


def test_a_failed_dispatch_after_commit_is_still_202_deferred(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher = client.app.state.pantheon.dispatcher  # type: ignore[attr-defined]

    def broker_down(task_name: str, kwargs: Any, **_: Any) -> Any:
        raise BrokerUnavailableError("broker unreachable")

    monkeypatch.setattr(dispatcher, "send", broker_down)
    response = client.post("/api/outcomes", json=outcome(outcome_key="deferred"))
    assert response.status_code == 202
    assert response.json()["mode"] == "deferred"
    assert response.json()["task_id"] is None
    assert stored(client) == 1
    assert client.get("/api/kernels/zeus").json()["outcomes_trained"] == 0
