"""Every HTTP route under hostile requests, on SQLite and PostgreSQL side by side.

Each generated request goes to two apps, one per store. Properties: never a 5xx, the two
stores answer with the same status, every outcome answered 202 is stored (nothing accepted
is lost), both stores end with the same number of outcomes, a NUL anywhere in the path
or query string is a 422 (the text rule runs before routing, so on any path), and whatever
method tokens came in, the request histogram's method labels stay a closed set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from pantheon.api.app import create_app
from pantheon.api.middleware import METHODS, OTHER
from pantheon.store.migrate import ensure_schema
from tests.fuzz.strategies import deep_raw, json_values, maybe, nasty_numbers, nasty_text, outcomes
from tests.fuzz_profiles import count, examples

#: httpx's own limit on a URL (``MAX_URL_LENGTH``): the client raises ``InvalidURL`` for a
#: longer one without sending it, so such an example would test the client, not the app.
MAX_CLIENT_URL = 65_536

pytestmark = pytest.mark.integration

GODS = st.sampled_from(["zeus", "athena", "hermes", "zeus_shadow", "odin"])
#: Any HTTP method token (RFC 9110 "tchar"): an h11 server hands each one to the app.
METHOD_TOKENS = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    min_size=1,
    max_size=12,
)

#: Hostile text, half the time with a NUL somewhere in it.
WITH_NUL = st.one_of(
    nasty_text, st.builds("{}\x00{}".format, st.text(max_size=5), st.text(max_size=5))
)


def seg(value: object) -> str:
    """A path segment, percent-encoded byte by byte (lone surrogates included)."""
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


@st.composite
def requests(draw: Any) -> tuple[str, str, dict[str, Any], Any]:
    """(method, path, query params, body); the body is JSON-able, or bytes sent raw."""
    kind = draw(st.integers(0, 15))
    if kind <= 3:
        return "POST", "/api/outcomes", {}, draw(outcomes())
    if kind == 4:
        batch = draw(st.lists(outcomes(), min_size=0, max_size=4))
        return "POST", "/api/outcomes/batch", {}, draw(maybe(st.just({"outcomes": batch})))
    if kind == 5:
        body = {"prompt": draw(maybe(st.text(min_size=1, max_size=20), nasty_text))}
        if draw(st.booleans()):
            body["candidates"] = draw(maybe(st.lists(GODS, max_size=3)))
        return "POST", "/api/route", {}, body
    if kind == 6:
        body = {
            "transfer_type": draw(
                maybe(st.sampled_from(["evolution", "breeding", "cannibalism", "shadow_sync"]))
            ),
            "source_god": draw(maybe(GODS, nasty_text)),
            "target_god": draw(maybe(GODS, nasty_text)),
            "transfer_ratio": draw(maybe(st.floats(0, 1), nasty_numbers)),
            "extra_params": draw(
                maybe(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "mutation": maybe(st.floats(0, 1), nasty_numbers),
                            "partner": maybe(GODS),
                            "keep_source": maybe(st.booleans()),
                            "direction": maybe(st.sampled_from(["to_god", "to_shadow"])),
                        },
                    )
                )
            ),
        }
        return "POST", "/api/transfer", {}, body
    if kind == 7:
        return "POST", "/api/checkpoints", {}, {"god_name": draw(maybe(GODS, nasty_text))}
    if kind == 8:
        cid = draw(st.one_of(st.integers(-5, 5), st.sampled_from([2**63, 2**64]), nasty_text))
        return "POST", f"/api/checkpoints/{seg(cid)}/restore", {}, None
    if kind == 9:
        params = {
            k: draw(v)
            for k, v in (
                ("god_name", maybe(GODS, nasty_text)),
                ("timescale", maybe(st.sampled_from(["online", "batch"]), nasty_text)),
                ("limit", maybe(st.integers(-1, 20), nasty_numbers)),
            )
            if draw(st.booleans())
        }
        return "GET", "/api/history", params, None
    if kind == 10:
        return "GET", f"/api/kernels/{seg(draw(maybe(GODS, nasty_text)))}", {}, None
    if kind == 11:
        params = {"timeout": draw(maybe(st.floats(0, 0.2), nasty_numbers))}
        task = seg(draw(maybe(st.uuids().map(str), nasty_text)))
        return "GET", f"/api/tasks/{task}", params, None
    if kind == 12:
        params = {"recent": draw(maybe(st.integers(0, 3), nasty_numbers))}
        return "GET", "/api/routing/overview", params, None
    if kind == 13:
        method = draw(st.one_of(METHOD_TOKENS, st.sampled_from(sorted(METHODS))))
        path = draw(st.sampled_from(["/api/outcomes", "/api/route", "/api/health", "/nowhere"]))
        return method, path, {}, None
    if kind == 14:  # hostile text in any path, routed or not, and in query names and values
        method = draw(st.sampled_from(["GET", "POST", "PUT"]))
        base = draw(st.sampled_from(["/api/outcomes", "/api/health", "/nowhere", "/static"]))
        path = base + draw(st.one_of(st.just(""), WITH_NUL.map(lambda t: "/" + seg(t))))
        params = draw(st.dictionaries(WITH_NUL, WITH_NUL, max_size=3))
        return method, path, params, None
    raw = draw(st.one_of(st.binary(max_size=200), deep_raw, json_values.map(json.dumps)))
    path = draw(st.sampled_from(["/api/outcomes", "/api/route", "/api/transfer"]))
    return "POST", path, {}, raw if isinstance(raw, bytes) else raw.encode()


def _send(client: TestClient, method: str, path: str, params: dict[str, Any], body: Any) -> Any:
    if isinstance(body, bytes):
        content = body
    elif body is None:
        content = None
    else:
        # ensure_ascii keeps lone surrogates as \\ud800 escapes; NaN stays a bare token
        content = json.dumps(body, ensure_ascii=True).encode()
    query = "&".join(
        f"{seg(k)}={seg(v if isinstance(v, str) else json.dumps(v))}" for k, v in params.items()
    )
    url = path + ("?" + query if query else "")
    if len(url) > MAX_CLIENT_URL:
        reject()  # the test client refuses it before sending; nothing reaches the app
    return client.request(
        method,
        url,
        content=content,
        headers={"Content-Type": "application/json"},
    )


@pytest.fixture
def twin_apps(sqlite_url: str, postgres_url: str, make_settings: Any) -> Iterator[list[TestClient]]:
    clients = []
    for url in (sqlite_url, postgres_url):
        app_settings = make_settings(database_url_raw=url, max_batch=10, task_wait_max=0.2)
        ensure_schema(app_settings)
        client = TestClient(create_app(app_settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
    yield clients
    for client in clients:
        client.__exit__(None, None, None)


def test_every_route_survives_hostile_requests_on_both_stores(
    twin_apps: list[TestClient],
) -> None:
    accepted = [0, 0]

    @settings(
        max_examples=examples(120),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(req=requests())
    def check(req: tuple[str, str, dict[str, Any], Any]) -> None:
        count("http requests (x2 stores)")
        method, path, params, body = req
        nul = "\x00" in unquote(path) or any(
            "\x00" in text for pair in params.items() for text in pair if isinstance(text, str)
        )
        answers = []
        for i, client in enumerate(twin_apps):
            resp = _send(client, method, path, params, body)
            assert resp.status_code < 500, (client.app, path, resp.status_code, resp.text[:300])
            if nul:
                assert resp.status_code == 422, (method, path, params, resp.status_code)
            if path == "/api/outcomes" and resp.status_code == 202:
                accepted[i] += 1
            answers.append(resp.status_code)
        assert answers[0] == answers[1], f"stores disagree on {method} {path}: {answers}"

    check()
    for client in twin_apps:  # whatever methods came in, the labels stay a closed set
        scraped = text_string_to_metric_families(client.get("/metrics").text)
        methods = {
            sample.labels["method"]
            for family in scraped
            if family.name == "pantheon_http_request_duration_seconds"
            for sample in family.samples
        }
        assert methods <= METHODS | {OTHER}, methods
    stored = [int(c.get("/api/stats").json()["outcomes"]) for c in twin_apps]
    assert stored[0] == stored[1], f"stores hold different outcome counts: {stored}"
    assert all(s >= a for s, a in zip(stored, accepted, strict=True)), (stored, accepted)
