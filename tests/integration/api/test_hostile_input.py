"""Hostile input at the HTTP edge, on SQLite and PostgreSQL alike (issue 14, items 1-5, 8, 9).

Each test names the item it pins; all of them answered 500 (or stored a poisoned kernel)
before the text rule, the typed transfer parameters and the public 5xx bodies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pantheon.api.app import create_app
from pantheon.store.migrate import ensure_schema
from pantheon.store.models import CheckpointRow
from pantheon.training import queries
from tests.integration.api.conftest import outcome

pytestmark = pytest.mark.integration

SURROGATE = "a\ud800b"
NUL = "a\x00b"


@pytest.fixture
def both(database_url: str, make_settings: Any) -> Iterator[TestClient]:
    """An app on SQLite, then on PostgreSQL (the fixture is parametrised)."""
    settings = make_settings(database_url_raw=database_url)
    ensure_schema(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def post_raw(client: TestClient, path: str, body: Any) -> Any:
    """JSON with ``\\ud800`` escapes kept as escapes (httpx would refuse to encode them)."""
    data = json.dumps(body, ensure_ascii=True)
    return client.post(path, content=data, headers={"Content-Type": "application/json"})


def stored_outcomes(client: TestClient) -> int:
    return int(client.get("/api/stats").json()["outcomes"])


@pytest.mark.parametrize("field", ["prompt", "response"])
def test_item1_lone_surrogate_is_a_422_on_both_stores(both: TestClient, field: str) -> None:
    resp = post_raw(both, "/api/outcomes", outcome(**{field: SURROGATE}))
    assert resp.status_code == 422, resp.text
    assert "surrogate" in resp.json()["detail"]
    assert stored_outcomes(both) == 0


def test_item1_batch_points_at_the_bad_item(both: TestClient) -> None:
    batch = [outcome(outcome_key="ok-0"), outcome(prompt=SURROGATE), outcome(outcome_key="ok-2")]
    resp = post_raw(both, "/api/outcomes/batch", {"outcomes": batch})
    assert resp.status_code == 422, resp.text
    locs = [e["loc"] for e in resp.json()["context"]["errors"]]
    assert ["body", "outcomes", "1", "prompt"] in locs
    assert stored_outcomes(both) == 0  # all or nothing, as documented


@pytest.mark.parametrize("field", ["prompt", "response", "outcome_key", "source_id"])
def test_item2_nul_is_a_422_on_both_stores(both: TestClient, field: str) -> None:
    resp = post_raw(both, "/api/outcomes", outcome(**{field: NUL}))
    assert resp.status_code == 422, resp.text
    assert "NUL" in resp.json()["detail"]
    assert stored_outcomes(both) == 0


def test_item2_control_characters_in_free_text_are_kept_verbatim(both: TestClient) -> None:
    prompt = "tab\there\x0cform feed \x1b[1mbold\x1b[0m"
    resp = both.post("/api/outcomes", json=outcome(prompt=prompt, outcome_key="ctl"))
    assert resp.status_code == 202, resp.text
    state = both.app.state.pantheon  # type: ignore[attr-defined]
    assert prompt in queries.recent_prompts(state.service, limit=5)


def test_item2_control_characters_in_identifiers_are_refused(both: TestClient) -> None:
    resp = both.post("/api/outcomes", json=outcome(outcome_key="key\x1b"))
    assert resp.status_code == 422


@pytest.mark.parametrize(
    "query",
    ["timescale=%00", "god_name=%00", "god_name=zeus%00", "%00=1"],
)
def test_item4_nul_in_a_query_string_is_a_422(both: TestClient, query: str) -> None:
    resp = both.get(f"/api/history?{query}")
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "validation_error"


def test_item4_nul_in_a_path_is_a_422(both: TestClient) -> None:
    assert both.get("/api/kernels/zeus%00").status_code == 422


@pytest.mark.parametrize(
    "extra",
    [
        {"mutation": 1e308},
        {"mutation": 1e10},
        {"mutation": 1e3},
        {"mutation": -1},
        {"mutation": "lots"},
        {"colour": "red"},
        {"keep_source": "no"},
        {"direction": "sideways"},
    ],
)
def test_item5_transfer_parameters_are_checked_at_the_route(
    both: TestClient, extra: dict[str, Any]
) -> None:
    body = {
        "transfer_type": "evolution",
        "source_god": "zeus",
        "target_god": "athena",
        "extra_params": extra,
    }
    resp = both.post("/api/transfer", json=body)
    assert resp.status_code == 422, resp.text
    kernels = {k["god_name"]: k for k in both.get("/api/kernels").json()["kernels"]}
    assert kernels["athena"]["version"] == 0  # nothing written


def test_item5_a_valid_mutation_keeps_the_kernel_finite(both: TestClient) -> None:
    body = {
        "transfer_type": "evolution",
        "source_god": "zeus",
        "target_god": "athena",
        "extra_params": {"mutation": 1.0},
    }
    assert both.post("/api/transfer", json=body).status_code == 202
    route = both.post("/api/route", json={"prompt": "hello"})
    assert route.status_code == 200
    for item in route.json()["ranking"]:
        assert 0.0 < item["p_success"] < 1.0
    save = both.post("/api/checkpoints", json={"god_name": "athena"})
    assert save.status_code == 202


def test_item8_corrupt_checkpoint_blob_is_a_409_and_the_live_kernel_is_kept(
    both: TestClient,
) -> None:
    state = both.app.state.pantheon  # type: ignore[attr-defined]
    assert both.post("/api/checkpoints", json={"god_name": "hera"}).status_code == 202
    row = both.get("/api/checkpoints", params={"god_name": "hera"}).json()["checkpoints"][0]
    version = both.get("/api/kernels/hera").json()["version"]
    # A truncated blob whose recorded sha256 matches it: the archive itself fails to parse.
    data = state.service.store.get(row["uri"])
    bad = data[: len(data) // 2]
    with state.service.database.session() as session:
        uri = state.service.store.put("hera/corrupt.ckpt", bad, session=session)
        session.execute(
            sa.update(CheckpointRow)
            .where(CheckpointRow.id == row["id"])
            .values(uri=uri, sha256=hashlib.sha256(bad).hexdigest())
        )
    resp = both.post(f"/api/checkpoints/{row['id']}/restore")
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"] == "checkpoint_error"
    assert both.get("/api/kernels/hera").json()["version"] == version


def test_item9_database_down_503_names_no_host_or_port(make_settings: Any) -> None:
    settings = make_settings(database_url_raw="postgresql://pantheon@127.0.0.1:9/pantheon_gone")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for method, path, body in (
            ("GET", "/api/kernels", None),
            ("GET", "/api/stats", None),
            ("GET", "/api/history", None),
            ("GET", "/api/checkpoints", None),
            ("POST", "/api/outcomes", outcome()),
            ("POST", "/api/route", {"prompt": "hi"}),
        ):
            resp = client.request(method, path, json=body)
            assert resp.status_code == 503, (path, resp.text)
            text = resp.text
            for leak in ("127.0.0.1", "9/", "port", "pantheon_gone", "postgresql", "psycopg"):
                assert leak not in text, (path, leak, text)


def test_recent_prompts_need_the_token(make_settings: Any, sqlite_url: str) -> None:
    """Prompts are user data: the routing overview shows recent ones only with the token."""
    token = "a-token-of-sufficient-length-0123"
    settings = make_settings(database_url_raw=sqlite_url, api_token=token)
    ensure_schema(settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {token}"}
        secret = "my private medical question"
        assert (
            client.post("/api/outcomes", json=outcome(prompt=secret), headers=auth).status_code
            == 202
        )
        public = client.get("/api/routing/overview")
        assert public.status_code == 200
        assert secret not in public.text
        assert client.get("/api/routing/overview", params={"recent": 5}).status_code == 401
        private = client.get("/api/routing/overview", params={"recent": 5}, headers=auth)
        assert private.status_code == 200
        assert secret in private.text
        for path in ("/api/tasks", "/api/history", "/api/kernels", "/api/stats", "/metrics"):
            assert secret not in client.get(path).text, path
