"""Outcome traffic over real HTTP, bounded in count and time, with every answer recorded.

:func:`post_outcomes` sends a fixed list; :class:`Traffic` keeps outcomes arriving in a
background thread while a fault is injected, until stopped (or its caps are hit).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

GODS = ("zeus", "athena", "apollo", "hermes")
#: A god no background traffic uses: an outcome for it is trained only by its own task, so a
#: killed task's outcome is recovered by redelivery or the outbox sweep, not by coalescing.
LONE_GOD = "hades"
WORDS = [
    "prove", "integral", "sequence", "bridge", "tariff", "poem", "sonnet", "harvest", "storm",
    "firewall", "compiler", "orbit", "enzyme", "treaty", "ledger", "melody", "quartz", "delta",
    "migration", "vaccine",
]  # fmt: skip


@dataclass
class Sent:
    """One request and its answer."""

    key: str
    status: int  # 0: no HTTP answer (connection error, timeout)
    outcome_id: int | None
    at: float
    body: str = ""
    seconds: float = 0.0  # how long the answer took


def make_outcome(key: str, rng: random.Random, gods: tuple[str, ...] = GODS) -> dict[str, Any]:
    prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))
    return {
        "god_name": rng.choice(gods),
        "prompt": f"{prompt} ({key})",
        "response": "an answer to " + prompt,
        "success": rng.random() < 0.6,
        "phi": round(rng.random(), 3),
        "coherence_score": round(rng.random(), 3),
        "outcome_key": key,
        "source_type": "replay",
    }


def new_keys(prefix: str, n: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"{prefix}-{run}-{i}" for i in range(n)]


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def post_one(
    client: httpx.Client, base_url: str, body: dict[str, Any], token: str | None = None
) -> Sent:
    at = time.time()
    began = time.monotonic()
    try:
        resp = client.post(base_url + "/api/outcomes", json=body, headers=_headers(token))
    except httpx.HTTPError as exc:
        return Sent(body["outcome_key"], 0, None, at, repr(exc), time.monotonic() - began)
    outcome_id = None
    if resp.status_code < 300:
        outcome_id = int(resp.json()["outcome_id"])
    took = time.monotonic() - began
    return Sent(body["outcome_key"], resp.status_code, outcome_id, at, resp.text[:500], took)


def post_outcomes(
    base_url: str,
    keys: Iterable[str],
    *,
    concurrency: int = 4,
    token: str | None = None,
    seed: int = 0,
    timeout: float = 30.0,
    gods: tuple[str, ...] = GODS,
) -> list[Sent]:
    """POST one outcome per key (``concurrency`` clients); every answer is returned."""
    rng = random.Random(seed)
    bodies = [make_outcome(k, rng, gods) for k in keys]
    with (
        httpx.Client(timeout=timeout) as client,
        ThreadPoolExecutor(max_workers=concurrency) as pool,
    ):
        return list(pool.map(lambda b: post_one(client, base_url, b, token), bodies))


def post_batch(
    base_url: str, keys: list[str], token: str | None = None, seed: int = 0, timeout: float = 60
) -> httpx.Response:
    rng = random.Random(seed)
    body = {"outcomes": [make_outcome(k, rng) for k in keys]}
    with httpx.Client(timeout=timeout) as client:
        return client.post(base_url + "/api/outcomes/batch", json=body, headers=_headers(token))


@dataclass
class Traffic:
    """Outcomes posted continuously from a background thread until :meth:`stop`.

    Caps: ``max_count`` requests and ``max_seconds`` of sending, whichever comes first.
    """

    base_url: str
    rate: float = 20.0  # requests per second, roughly
    token: str | None = None
    max_count: int = 5_000
    max_seconds: float = 300.0
    prefix: str = "traffic"
    timeout: float = 10.0
    sent: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        rng = random.Random(hash(self.prefix) & 0xFFFF)
        keys = new_keys(self.prefix, self.max_count)
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=self.timeout) as client:
            for key in keys:
                if self._stop.is_set() or time.monotonic() > deadline:
                    break
                began = time.monotonic()
                self.sent.append(
                    post_one(client, self.base_url, make_outcome(key, rng), self.token)
                )
                time.sleep(max(0.0, 1.0 / self.rate - (time.monotonic() - began)))

    def stop(self, timeout: float = 30.0) -> list[Sent]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return list(self.sent)


def summarize(sent: Iterable[Sent]) -> dict[str, int]:
    """Counts by status class: accepted (2xx), unavailable (503), server_error (other 5xx),
    client_error (4xx), no_answer (connection error)."""
    counts = {"accepted": 0, "unavailable": 0, "server_error": 0, "client_error": 0, "no_answer": 0}
    for s in sent:
        if 200 <= s.status < 300:
            counts["accepted"] += 1
        elif s.status == 503:
            counts["unavailable"] += 1
        elif s.status >= 500:
            counts["server_error"] += 1
        elif s.status >= 400:
            counts["client_error"] += 1
        else:
            counts["no_answer"] += 1
    return counts
