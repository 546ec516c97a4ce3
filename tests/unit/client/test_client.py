"""``pantheon.client`` request bodies, retries and error mapping (over httpx's mock transport)."""

from __future__ import annotations

import json
import uuid

import httpx
import pydantic
import pytest

from pantheon.client import PantheonClient, RetryPolicy, outcome_body
from pantheon.errors import ConflictError, DatabaseUnavailableError, TrainingDisabledError

pytestmark = pytest.mark.unit

FAST = RetryPolicy(retries=3, base=0.0, cap=0.0)
ACCEPTED = {"outcome_id": 7, "task_id": None, "mode": "sync", "duplicate": False}


def test_every_outcome_carries_a_key_and_decision_id_only_when_given() -> None:
    body = outcome_body(god_name="zeus", prompt="p", response="r", success=True)
    assert body["outcome_key"].startswith("client-")
    assert "decision_id" not in body
    assert (
        outcome_body(god_name="zeus", prompt="p", response="r", success=True)["outcome_key"]
        != body["outcome_key"]
    )
    decision = uuid.uuid4()
    given = outcome_body(
        god_name="zeus",
        prompt="p",
        response="r",
        success=True,
        outcome_key="k",
        decision_id=decision,
    )
    assert (given["outcome_key"], given["decision_id"]) == ("k", str(decision))
    # Checked here, like every other field: no request is sent for a malformed id.
    with pytest.raises(pydantic.ValidationError):
        outcome_body(god_name="zeus", prompt="p", response="r", success=True, decision_id="d1")


def test_5xx_and_429_are_retried_with_the_same_key() -> None:
    seen: list[dict[str, object]] = []
    answers = [
        httpx.Response(503, json={"error": "database_unavailable", "detail": "down"}),
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(202, json=ACCEPTED),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.headers["Authorization"] == "Bearer t"
        return answers.pop(0)

    with PantheonClient(
        "http://pantheon", token="t", retry=FAST, transport=httpx.MockTransport(handler)
    ) as client:
        accepted = client.record_outcome(god_name="zeus", prompt="p", response="r", success=True)
    assert accepted.outcome_id == 7
    assert len(seen) == 3
    assert len({str(body["outcome_key"]) for body in seen}) == 1


def test_errors_map_to_the_project_error_tree() -> None:
    answers = {
        "/a": httpx.Response(409, json={"error": "training_disabled", "detail": "off"}),
        "/b": httpx.Response(409, json={"error": "conflict", "detail": "busy"}),
        "/c": httpx.Response(503, json={"error": "database_unavailable", "detail": "down"}),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return answers["/" + request.url.host]

    for host, error in (("a", TrainingDisabledError), ("b", ConflictError)):
        with (
            PantheonClient(
                f"http://{host}", retry=FAST, transport=httpx.MockTransport(handler)
            ) as client,
            pytest.raises(error),
        ):
            client.route("p")
    client = PantheonClient("http://c", retry=FAST, transport=httpx.MockTransport(handler))
    with client, pytest.raises(DatabaseUnavailableError) as down:
        client.route("p")
    assert down.value.details["status"] == 503
