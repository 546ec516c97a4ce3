"""Every POST route of the real application refuses a request without the right secret.

The routes are walked from the app itself, so a route added later is covered without
editing this file. The legacy cron route is guarded by ``X-Cron-Secret`` instead of the
bearer token, and does not exist at all when ``CRON_SECRET`` is unset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.security.conftest import CRON, TOKEN, WRONG_CRON, WRONG_TOKEN, MakeClient

pytestmark = pytest.mark.unit

CRON_PATH = "/api/cron/wake"
#: A value for each path parameter the app may have.
PARAMS = {"job": "hourly", "checkpoint_id": "1", "god": "zeus", "god_name": "zeus", "task_id": "x"}


def _walk(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, set(route.methods or ())
        elif hasattr(route, "original_router"):  # an included router (walked lazily)
            extra = str(getattr(getattr(route, "include_context", None), "prefix", "") or "")
            yield from _walk(route.original_router.routes, prefix + extra)


def post_routes(client: TestClient) -> list[str]:
    """Every POST path: the app's route tree plus the OpenAPI schema, so neither hides one."""
    app = client.app
    found = {path for path, methods in _walk(app.routes) if "POST" in methods}  # type: ignore[attr-defined]
    schema = app.openapi()  # type: ignore[attr-defined]
    found |= {path for path, ops in schema["paths"].items() if "post" in ops}
    return sorted(
        re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PARAMS.get(m.group(1), "1"), path) for path in found
    )


def test_the_walk_finds_the_documented_posts(make_client: MakeClient) -> None:
    paths = post_routes(make_client())
    for expected in (
        "/api/outcomes",
        "/api/outcomes/batch",
        "/api/route",
        "/api/training/hourly",
        "/api/transfer",
        "/api/checkpoints",
        "/api/checkpoints/1/restore",
        CRON_PATH,
    ):
        assert expected in paths


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"Bearer {WRONG_TOKEN}"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
)
def test_every_post_refuses_a_missing_or_wrong_token(
    make_client: MakeClient, headers: dict[str, str]
) -> None:
    client = make_client()
    for path in post_routes(client):
        if path == CRON_PATH:
            continue
        resp = client.post(path, json={}, headers=headers)
        assert resp.status_code == 401, (path, resp.status_code, resp.text)
        assert "error" in resp.json()


def test_the_right_token_gets_past_the_guard(make_client: MakeClient) -> None:
    client = make_client()
    for path in post_routes(client):
        if path == CRON_PATH:
            continue
        resp = client.post(path, json={}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status_code != 401, (path, resp.text)
        assert resp.status_code < 500, (path, resp.status_code, resp.text)


def test_gets_for_probes_stay_open(make_client: MakeClient) -> None:
    client = make_client()
    assert client.get("/api/health").status_code in (200, 503)
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Cron-Secret": WRONG_CRON},
        {"X-Cron-Secret": CRON[:-1]},
        {"Authorization": f"Bearer {TOKEN}"},
    ],
)
def test_cron_route_refuses_a_wrong_or_missing_secret(
    make_client: MakeClient, headers: dict[str, str]
) -> None:
    resp = make_client().post(CRON_PATH, json={"task_type": "hourly"}, headers=headers)
    assert resp.status_code == 401, resp.text


def test_cron_route_accepts_its_secret(make_client: MakeClient) -> None:
    resp = make_client().post(
        CRON_PATH, json={"task_type": "hourly"}, headers={"X-Cron-Secret": CRON}
    )
    assert resp.status_code == 202, resp.text
    assert "deprecation" in {k.lower() for k in resp.headers}


@pytest.mark.parametrize("headers", [{}, {"X-Cron-Secret": CRON}, {"X-Cron-Secret": ""}])
def test_cron_route_is_absent_without_cron_secret(
    make_client: MakeClient, headers: dict[str, str]
) -> None:
    client = make_client(cron_secret=None)
    resp = client.post(CRON_PATH, json={"task_type": "hourly"}, headers=headers)
    assert resp.status_code == 404, resp.text
