"""The heap goes back to the system when the last large request in flight has finished."""

from __future__ import annotations

import asyncio
import platform

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from pantheon.api.heap import LARGE_BODY_BYTES, HeapReleaseMiddleware, find_malloc_trim

pytestmark = pytest.mark.unit


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
