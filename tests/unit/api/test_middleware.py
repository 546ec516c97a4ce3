"""The body cap refuses oversized bodies before the app reads them; the text rule refuses a
path or query string before routing; the heap goes back to the system when the last large
request in flight has finished; the request metrics keep a bounded set of labels."""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from pantheon.api.errors import install_error_handlers
from pantheon.api.middleware import (
    LARGE_BODY_BYTES,
    OTHER,
    BodyLimitMiddleware,
    HeapReleaseMiddleware,
    HttpMetrics,
    HttpMetricsMiddleware,
    TextRuleMiddleware,
    find_malloc_trim,
    text_error,
)

pytestmark = pytest.mark.unit

LIMIT = 2048


@pytest.fixture
def reads() -> list[int]:
    return []


@pytest.fixture
def client(reads: list[int]) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        reads.append(len(body))
        return {"size": len(body)}

    app.add_middleware(BodyLimitMiddleware, max_body_bytes=LIMIT)
    return TestClient(app)


def test_body_at_the_limit_passes(client: TestClient, reads: list[int]) -> None:
    response = client.post("/echo", content=b"x" * LIMIT)
    assert response.status_code == 200
    assert response.json() == {"size": LIMIT}


def test_declared_length_over_the_limit_is_refused_before_the_app_runs(
    client: TestClient, reads: list[int]
) -> None:
    response = client.post("/echo", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert str(LIMIT) in response.json()["detail"]
    assert reads == []  # the handler never ran


def test_chunked_body_is_cut_off_at_the_limit(client: TestClient, reads: list[int]) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 512

    response = client.post("/echo", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert reads == []


def test_requests_without_body_are_untouched(client: TestClient) -> None:
    assert client.post("/echo").json() == {"size": 0}


class FakeTrim:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, pad: int) -> int:
        self.calls.append(pad)
        return 1


def http_scope(length: int | None) -> Scope:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "method": "POST", "path": "/x", "headers": headers}


async def no_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def no_send(message: Message) -> None:
    return None


def test_a_large_request_trims_once_after_the_route_returned() -> None:
    trim = FakeTrim()
    trimmed_during_route: list[bool] = []
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        trimmed_during_route.append(bool(trim.calls))
        return {"size": len(body)}

    app.add_middleware(HeapReleaseMiddleware, trim=trim)
    client = TestClient(app)
    assert client.post("/echo", content=b"x" * LARGE_BODY_BYTES).json() == {
        "size": LARGE_BODY_BYTES
    }
    assert trimmed_during_route == [False]
    assert trim.calls == [0]


@pytest.mark.parametrize("length", [None, 0, LARGE_BODY_BYTES - 1])
def test_small_or_unsized_requests_do_not_trim(length: int | None) -> None:
    trim = FakeTrim()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    middleware = HeapReleaseMiddleware(app, trim=trim)
    asyncio.run(middleware(http_scope(length), no_receive, no_send))
    assert trim.calls == []


def test_overlapping_large_requests_trim_when_the_last_one_ends() -> None:
    trim = FakeTrim()
    trims_seen_at_end: list[int] = []

    async def main() -> None:
        first_done = asyncio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] == "/first":
                first_done.set()
            else:  # the second request outlives the first
                await first_done.wait()
                await asyncio.sleep(0.01)
                trims_seen_at_end.append(len(trim.calls))

        middleware = HeapReleaseMiddleware(app, trim=trim)
        second = dict(http_scope(LARGE_BODY_BYTES), path="/second")
        first = dict(http_scope(LARGE_BODY_BYTES), path="/first")
        await asyncio.gather(
            middleware(second, no_receive, no_send), middleware(first, no_receive, no_send)
        )
        assert middleware.in_flight == 0

    asyncio.run(main())
    assert trims_seen_at_end == [0]  # the first request's end did not trim
    assert trim.calls == [0]


def test_a_failed_large_request_leaves_the_count_right() -> None:
    trim = FakeTrim()

    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    middleware = HeapReleaseMiddleware(failing, trim=trim)
    with pytest.raises(RuntimeError):
        asyncio.run(middleware(http_scope(LARGE_BODY_BYTES), no_receive, no_send))
    assert middleware.in_flight == 0

    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    middleware.app = ok
    asyncio.run(middleware(http_scope(LARGE_BODY_BYTES), no_receive, no_send))
    assert trim.calls == [0]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_glibc_malloc_trim_is_found_and_callable() -> None:
    trim = find_malloc_trim()
    assert trim is not None
    assert trim(0) in (0, 1)


def test_request_metrics_keep_a_bounded_set_of_method_labels() -> None:
    """A caller choosing the method token must not add label values (and memory) at will."""
    app = FastAPI()

    @app.get("/thing")
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    metrics = HttpMetrics(CollectorRegistry())
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    client = TestClient(app)
    assert client.get("/thing").status_code == 200
    for n in range(40):
        assert client.request(f"BREW{n}", "/thing").status_code == 405
    methods = {
        sample.labels["method"]
        for family in metrics.registry.collect()
        for sample in family.samples
        if "method" in sample.labels
    }
    assert methods == {"GET", OTHER}


@pytest.fixture
def text_client(reads: list[int]) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/items/{name}")
    async def item(name: str, q: str = "") -> dict[str, str]:
        reads.append(len(name))
        return {"name": name, "q": q}

    app.add_middleware(TextRuleMiddleware)
    return TestClient(app)


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("/items/a%00b", "path"),
        ("/nowhere%00", "path"),  # refused before routing: no route needed
        ("/items/a?q=%00", "query.q"),
        ("/items/a?%00=1", "query parameter name"),
        ("/items/a?q=ok&q=%00", "query.q"),  # the second value of a repeated name
    ],
)
def test_bad_text_in_the_path_or_query_is_a_422_before_any_route_runs(
    text_client: TestClient, reads: list[int], url: str, where: str
) -> None:
    response = text_client.get(url)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["detail"].startswith(f"{where}: ")
    assert body["context"]["errors"] == [body["detail"]]
    assert reads == []


def test_clean_text_reaches_the_route(text_client: TestClient, reads: list[int]) -> None:
    response = text_client.get("/items/caf%C3%A9?q=%E2%9C%93")
    assert response.status_code == 200
    assert response.json() == {"name": "café", "q": "✓"}
    assert reads == [4]


def test_text_error_names_the_first_problem_and_passes_clean_scopes() -> None:
    assert text_error({"type": "http", "path": "/a", "query_string": b""}) is None
    assert text_error({"type": "http", "path": "/a", "query_string": b"x=1&y=2"}) is None
    error = text_error({"type": "http", "path": "/a\x00", "query_string": b"x=%00"})
    assert error is not None
    assert error.message == "path: contains a NUL character (U+0000) at offset 2"
