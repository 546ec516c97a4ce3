"""The load generator's chat-app flow: a route first, then the outcome with its decision."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from benchmarks.pipeline_load import Recorder, merge

pytestmark = pytest.mark.unit

BODY = json.dumps({"god_name": "zeus", "prompt": "why is the sea salty?", "success": True})


def _linked(status: int, answer: object) -> tuple[bytes, Recorder, list[object]]:
    seen: list[object] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(status, json=answer)

    async def go() -> tuple[bytes, Recorder]:
        recorder = Recorder()
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            body = await recorder.route_first(client, "http://127.0.0.1/api/route", BODY.encode())
        return body, recorder

    body, recorder = asyncio.run(go())
    return body, recorder, seen


def test_the_outcome_carries_the_decision_and_the_chosen_god() -> None:
    body, recorder, seen = _linked(200, {"decision_id": "d-1", "god_name": "athena"})
    assert seen == [{"prompt": "why is the sea salty?"}]
    sent = json.loads(body)
    assert (sent["decision_id"], sent["god_name"], sent["success"]) == ("d-1", "athena", True)
    assert len(recorder.route_latencies) == 1
    assert recorder.route_errors == []
    assert recorder.route_statuses == {"200": 1}


def test_a_failed_route_leaves_the_outcome_unlinked_and_is_counted() -> None:
    body, recorder, _ = _linked(503, {"detail": "busy"})
    assert body == BODY.encode()
    assert len(recorder.route_errors) == 1
    assert recorder.route_errors[0].startswith("HTTP 503")
    assert recorder.route_statuses == {"503": 1}


def test_merged_route_answers_are_counted_past_the_kept_error_texts() -> None:
    # Each process keeps at most 20 error texts; the counts by status are complete.
    results = [
        {"records": [], "errors": [], "route_errors": ["HTTP 503"] * 20,
         "route_statuses": {"200": 5, "503": 30}},
        {"records": [], "errors": [], "route_errors": ["HTTP 503"] * 20,
         "route_statuses": {"503": 25, "error": 2}},
    ]  # fmt: skip
    merged = merge(results)
    assert len(merged["route_errors"]) == 20
    assert merged["route_statuses"] == {"200": 5, "503": 55, "error": 2}
