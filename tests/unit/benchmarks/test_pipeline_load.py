"""The load generator's chat-app flow: a route first, then the outcome with its decision.

The generator's client talks to a real HTTP server on loopback (aiohttp's test server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from benchmarks.pipeline_load import Recorder, _client, merge

pytestmark = pytest.mark.unit

BODY = json.dumps({"god_name": "zeus", "prompt": "why is the sea salty?", "success": True})

Handler = Callable[[web.Request], Awaitable[web.Response]]


@asynccontextmanager
async def _serving(
    path: str, handler: Handler
) -> AsyncIterator[tuple[aiohttp.ClientSession, Callable[[str], str]]]:
    """The generator's own session, and the URL of a path on a loopback server whose
    ``POST path`` is ``handler``."""
    app = web.Application()
    app.router.add_post(path, handler)
    async with TestServer(app, host="127.0.0.1") as server, _client({}, 1) as client:
        yield client, lambda at: str(server.make_url(at))


def _linked(status: int, answer: object) -> tuple[bytes, Recorder, list[object]]:
    seen: list[object] = []

    async def handler(request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        seen.append(json.loads(await request.read()))
        return web.json_response(answer, status=status)

    async def go() -> tuple[bytes, Recorder]:
        recorder = Recorder()
        async with _serving("/api/route", handler) as (client, url):
            body = await recorder.route_first(client, url("/api/route"), BODY.encode())
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


def test_an_outcome_is_recorded_with_its_answer() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"outcome_id": 41, "mode": "celery"}, status=202)

    async def go() -> Recorder:
        recorder = Recorder()
        async with _serving("/api/outcomes", handler) as (client, url):
            await recorder.send(client, url("/api/outcomes"), BODY.encode(), True)
            await recorder.send(client, url("/nowhere"), BODY.encode(), True)
        return recorder

    recorder = asyncio.run(go())
    (ok, missing) = recorder.records
    assert ok[2:5] == [202, 41, 1]
    assert missing[2:5] == [404, None, 0]
    assert recorder.errors[0].startswith("HTTP 404")


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
