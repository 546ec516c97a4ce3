"""Scenarios 2 and 3: Redis, then PostgreSQL, stopped and restarted while outcomes arrive.

Requests during an outage must answer 2xx (stored) or a clear 503 — never another 5xx, never
no answer. Afterwards the client retries its 503s with the same ``outcome_key`` (what a
real client does), and every accepted outcome must be trained online exactly once.
"""

from __future__ import annotations

import time
from collections import Counter

from benchmarks.load import Sent, Traffic, post_outcomes, summarize
from benchmarks.scenarios.base import Rep, RunResult, accepted_ids, health, repetition, wait_idle
from benchmarks.stack import Stack

DOWN_SECONDS = 6.0
RATE = 15.0


def scenario_redis(stack: Stack, index: int = 0) -> list[RunResult]:
    result = RunResult("2", "Redis stopped and restarted under load")
    with repetition(stack, f"s2-{index}") as rep:
        _start(rep)
        traffic = Traffic(rep.url, rate=RATE, max_seconds=120, prefix=f"s2-{index}").start()
        time.sleep(3)
        stack.redis.stop(hard=index % 2 == 1)  # odd repetitions: a crash, even: a clean stop
        down_at = time.time()
        probes = _probe_health(rep, DOWN_SECONDS)
        stack.redis.start()
        up_at = time.time()
        result.extra["health_during_outage"] = dict(Counter(probes))
        result.check(
            all(code in (200, 503) for code in probes),
            f"health during Redis outage answered {sorted(set(probes))}",
        )
        time.sleep(4)
        _finish(rep, result, traffic.stop(), down_at, up_at)
    return [result]


def scenario_postgres(stack: Stack, index: int = 0) -> list[RunResult]:
    result = RunResult("3", "PostgreSQL restarted under load")
    assert stack.postgres is not None, "scenario 3 needs the stack's private PostgreSQL"
    with repetition(stack, f"s3-{index}") as rep:
        _start(rep)
        traffic = Traffic(rep.url, rate=RATE, max_seconds=120, prefix=f"s3-{index}").start()
        time.sleep(3)
        stack.postgres.stop("immediate" if index % 2 else "fast")
        down_at = time.time()
        probes = _probe_health(rep, DOWN_SECONDS)
        stack.postgres.start()
        up_at = time.time()
        result.extra["health_during_outage"] = dict(Counter(probes))
        result.check(
            bool(probes) and all(code == 503 for code in probes[1:]),
            f"health while PostgreSQL was down answered {probes}",
        )
        back = _wait_health_ok(rep, 60)
        result.extra["health_ok_after_s"] = back
        result.check(back is not None, "health did not answer 200 within 60 s of PostgreSQL")
        time.sleep(3)
        _finish(rep, result, traffic.stop(), down_at, up_at)
    return [result]


def _start(rep: Rep) -> None:
    rep.start_web()  # auto mode: celery when a worker answers, else in-process
    rep.start_worker()
    rep.start_beat()


def _probe_health(rep: Rep, seconds: float) -> list[int]:
    codes: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        codes.append(health(rep.url, timeout=5)[0])
        time.sleep(0.5)
    return codes


def _wait_health_ok(rep: Rep, timeout: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if health(rep.url)[0] == 200:
            return time.monotonic() - began
        time.sleep(0.2)
    return None


def _finish(rep: Rep, result: RunResult, sent: list[Sent], down_at: float, up_at: float) -> None:
    counts = summarize(sent)
    result.extra["answers"] = counts
    during = summarize(s for s in sent if down_at <= s.at <= up_at)
    result.extra["answers_during_outage"] = during
    result.check(
        counts["server_error"] == 0,
        f"{counts['server_error']} answers were 5xx other than 503: "
        f"{[s.body[:200] for s in sent if s.status >= 500 and s.status != 503][:2]}",
    )
    result.check(counts["no_answer"] == 0, f"{counts['no_answer']} requests got no answer")
    result.check(during["accepted"] + during["unavailable"] > 0, "no request hit the outage")
    retry_keys = [s.key for s in sent if not 200 <= s.status < 300]
    # Stored although the answer was an error: not lost (the retry finds it by key); said.
    result.extra["stored_despite_error_answer"] = len(rep.auditor.ids_for_keys(retry_keys))
    # The client's retry of everything not accepted, with the same keys.
    retried = post_outcomes(rep.url, retry_keys, concurrency=4) if retry_keys else []
    still = [s for s in retried if not 200 <= s.status < 300]
    result.check(not still, f"{len(still)} retried outcomes still refused: {still[:2]}")
    ids = accepted_ids([*sent, *retried])
    result.sent = len(sent)
    took = rep.wait_all_trained(ids, 120)
    result.check(took is not None, "accepted outcomes not all trained within 120 s")
    result.recovery_s = time.time() - up_at if took is not None else None
    wait_idle(rep)
    result.add_audit(rep.auditor.audit(ids))
