"""With the broker down the API still answers fast, stores outcomes and trains in-process."""

from __future__ import annotations

import time

import pytest

from tests.integration.api.conftest import MakeClient, outcome

pytestmark = pytest.mark.integration

DEAD_BROKER = "redis://127.0.0.1:9/0"


@pytest.mark.parametrize("mode", ["auto", "celery"])
def test_health_and_intake_without_a_broker(make_client: MakeClient, mode: str) -> None:
    client = make_client(redis_url=DEAD_BROKER, task_mode=mode)
    started = time.monotonic()
    health = client.get("/api/health")
    first = time.monotonic() - started
    assert health.status_code == 200
    body = health.json()
    assert body["database"] == "ok"
    assert body["broker"] == "down"
    assert body["celery_available"] is False
    assert body["status"] == "degraded"
    assert first < 8, f"health took {first:.1f}s with the broker down"
    started = time.monotonic()
    assert client.get("/api/health").status_code == 200
    assert time.monotonic() - started < 3, "the second check should come from the cache"

    response = client.post("/api/outcomes", json=outcome(outcome_key=f"down-{mode}"))
    assert response.status_code == 202
    assert response.json()["mode"] in {"sync", "deferred"}
    stats = client.get("/api/stats").json()
    assert stats["outcomes"] == 1
    queues = client.get("/api/queues").json()
    assert queues["broker"] == "down"
    assert set(queues["queues"].values()) == {None}
