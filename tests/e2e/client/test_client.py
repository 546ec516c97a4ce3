"""``pantheon.client`` against a real ``pantheon serve`` process on PostgreSQL.

Includes a connection dropped after the server stored the outcome but before its answer
reached the client: the client retries with the same ``outcome_key`` and the outcome is
stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import httpx
import pytest

from pantheon.client import AsyncPantheonClient, PantheonClient, RetryPolicy
from pantheon.errors import AuthError, UnavailableError, ValidationError
from pantheon.store.migrate import ensure_schema
from pantheon.testing import Stack, free_port, pipe

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "src" / "pantheon" / "data" / "sample"
PANTHEON = str(Path(sys.executable).with_name("pantheon"))
TOKEN = "client-test-token-0123456789abcdef"
FAST = RetryPolicy(retries=3, base=0.05, cap=0.2)


@pytest.fixture
def server(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """``pantheon serve`` (in-process tasks) with a bearer token, on the test database."""
    env = {
        "PANTHEON_ROSTER_FILE": str(SAMPLE / "roster.json"),
        "PANTHEON_TASK_MODE": "sync",
        "PANTHEON_API_TOKEN": TOKEN,
    }
    with Stack(tmp_path, postgres=postgres_url, redis=None, env=env, cwd=REPO) as stack:
        ensure_schema(stack.settings())
        yield stack.serve().url


@dataclass
class DropFirstAnswer:
    """A TCP forwarder that cuts its first connection once the server starts answering:
    the request was served, the answer never arrives (a dropped connection)."""

    target: tuple[str, int]
    port: int = 0
    dropped: int = 0
    connections: int = 0

    def start(self) -> None:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        self.port = int(server.getsockname()[1])
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            client, _ = server.accept()
            upstream = socket.create_connection(self.target, timeout=10)
            self.connections += 1
            drop = self.dropped == 0
            threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
            back = self._cut if drop else pipe
            threading.Thread(target=back, args=(upstream, client), daemon=True).start()

    def _cut(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            upstream.recv(65536)  # the server answered: the outcome is stored
        self.dropped += 1
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class OutcomeFields(TypedDict):
    """The keyword arguments of ``record_outcome`` a test sends twice."""

    god_name: str
    prompt: str
    response: str
    success: bool
    outcome_key: str


def stored(base: str) -> int:
    return int(httpx.get(f"{base}/api/stats", timeout=10).json()["outcomes"])


def test_sync_client_routes_records_and_maps_errors(server: str) -> None:
    with PantheonClient(server, token=TOKEN, retry=FAST) as client:
        choice = client.route("Prove that the square root of 2 is irrational.", explore=False)
        # Greedy: the chosen god has the best score (fresh kernels tie and share it).
        best = max(r.score for r in choice.ranking)
        assert {r.god_name: r.score for r in choice.ranking}[choice.god_name] == best
        assert choice.propensity == pytest.approx(
            sum(r.probability for r in choice.ranking if r.god_name == choice.god_name)
        )
        assert len(choice.ranking) >= 2
        proof: OutcomeFields = {
            "god_name": choice.god_name,
            "prompt": "Prove that the square root of 2 is irrational.",
            "response": "Suppose p/q in lowest terms...",
            "success": True,
            "outcome_key": "client-e2e-1",
        }
        first = client.record_outcome(**proof)
        assert first.duplicate is False
        assert first.mode == "sync"
        again = client.record_outcome(**proof)  # the same outcome sent again: stored once
        assert again.duplicate is True
        assert again.outcome_id == first.outcome_id
        gods = [item.god_name for item in choice.ranking[:2]]
        batch = client.record_batch(
            [
                {
                    "god_name": gods[i % 2],
                    "prompt": f"question {i}",
                    "response": "a",
                    "success": i % 3 > 0,
                }
                for i in range(5)
            ]
        )
        assert (batch.accepted, batch.duplicates, len(batch.outcome_ids)) == (5, 0, 5)
        with pytest.raises(ValidationError) as bad:
            client.record_outcome(god_name="nobody", prompt="p", response="r", success=True)
        assert bad.value.details["status"] == 422
        assert bad.value.details["code"] == "unknown_god"
    assert stored(server) == 6
    intruder = PantheonClient(server, token="wrong-token", retry=FAST)
    with intruder, pytest.raises(AuthError):
        intruder.route("anything")
    nowhere = PantheonClient(f"http://127.0.0.1:{free_port()}", retry=FAST)
    with nowhere, pytest.raises(UnavailableError, match="cannot reach"):
        nowhere.route("anything")


def test_a_dropped_connection_is_retried_without_doubling_the_outcome(server: str) -> None:
    god = httpx.post(
        f"{server}/api/route",
        json={"prompt": "hello"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    ).json()["god_name"]
    before = stored(server)
    proxy = DropFirstAnswer(("127.0.0.1", int(server.rsplit(":", 1)[1])))
    proxy.start()
    with PantheonClient(f"http://127.0.0.1:{proxy.port}", token=TOKEN, retry=FAST) as client:
        # No outcome_key from the caller: the client makes one and reuses it on the retry.
        accepted = client.record_outcome(
            god_name=god, prompt="a question whose answer got lost", response="r", success=True
        )
    assert proxy.dropped == 1, "the first answer was not cut"
    assert proxy.connections == 2
    assert accepted.duplicate is True  # the retry found the outcome the first attempt stored
    assert stored(server) == before + 1


def test_async_client(server: str) -> None:
    async def run() -> None:
        async with AsyncPantheonClient(server, token=TOKEN, retry=FAST) as client:
            choice = await client.route("Write a Python function that merges two lists.")
            accepted = await client.record_outcome(
                god_name=choice.god_name,
                prompt="Write a Python function that merges two lists.",
                response="def merge(a, b): ...",
                success=False,
                decision_id=choice.decision_id,
            )
            assert accepted.duplicate is False
            batch = await client.record_batch(
                [{"god_name": choice.god_name, "prompt": "x", "response": "y", "success": True}]
            )
            assert batch.accepted == 1

    before = stored(server)
    asyncio.run(run())
    assert stored(server) == before + 2
