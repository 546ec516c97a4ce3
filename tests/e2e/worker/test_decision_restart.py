"""A recorded decision survives a restart of the web process (real processes)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pantheon.testing import free_port
from tests.e2e.worker.conftest import Cluster

pytestmark = pytest.mark.e2e


def test_a_decision_survives_a_web_restart(make_cluster: Any) -> None:
    port = free_port()
    cluster: Cluster = make_cluster(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # no broker: embedded, in-process
        CELERY_RESULT_BACKEND="",
        CELERY_BROKER_URL="",
    )
    base = f"http://127.0.0.1:{port}"
    web = cluster.pantheon("up1", "up", "--port", str(port))
    web.wait_for_log("Uvicorn running", timeout=60)
    routed = httpx.post(
        f"{base}/api/route",
        json={"prompt": "how deep is the sea", "candidates": ["poseidon", "zeus"]},
        timeout=30,
    )
    assert routed.status_code == 200, routed.text
    body = routed.json()
    decision_id = body["decision_id"]
    web.stop()  # SIGTERM right after the answer: the decision was committed before it

    web = cluster.pantheon("up2", "up", "--port", str(port))
    web.wait_for_log("Uvicorn running", timeout=60)
    again = httpx.get(f"{base}/api/decisions/{decision_id}", timeout=30)
    assert again.status_code == 200, again.text
    stored = again.json()
    assert stored["god_name"] == body["god_name"]
    assert stored["propensity"] == body["propensity"]
    assert [r["god_name"] for r in stored["ranking"]] == [r["god_name"] for r in body["ranking"]]
    outcome = {
        "god_name": body["god_name"],
        "prompt": "how deep is the sea",
        "response": "very",
        "success": True,
        "decision_id": decision_id,
    }
    posted = httpx.post(f"{base}/api/outcomes", json=outcome, timeout=30)
    assert posted.status_code == 202, posted.text
    linked = httpx.get(f"{base}/api/decisions/{decision_id}", timeout=30).json()
    assert linked["outcome_id"] == posted.json()["outcome_id"]
    assert linked["override"] is False
    unknown = httpx.post(
        f"{base}/api/outcomes",
        json={**outcome, "decision_id": "00000000-0000-4000-8000-000000000000"},
        timeout=30,
    )
    assert unknown.status_code == 422
    assert "unknown decision_id" in unknown.json()["detail"]
    assert httpx.get(f"{base}/api/decisions/nope", timeout=30).status_code == 422
