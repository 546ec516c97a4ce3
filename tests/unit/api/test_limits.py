"""The body cap refuses oversized bodies before the app reads them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from pantheon.api.errors import install_error_handlers
from pantheon.api.limits import BodyLimitMiddleware

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
