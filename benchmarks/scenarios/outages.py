"""Scenarios 2 and 3: Redis, then PostgreSQL, stopped and restarted while outcomes arrive.

Requests during an outage must answer 2xx (stored) or a clear 503 — never another 5xx, never
no answer. Afterwards the client retries its 503s with the same ``outcome_key`` (what a
real client does), and every accepted outcome must be trained online exactly once.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx

from benchmarks.load import Sent, Traffic, post_outcomes, summarize
from benchmarks.scenarios.base import Rep, RunResult, accepted_ids, health, repetition, wait_idle
from pantheon.testing import Stack

DOWN_SECONDS = 6.0
#: An intake answer slower than this during an outage counts as a failure: a client with a
#: usual timeout would have given up (a "clear 503" must come quickly).
SLOW_ANSWER_S = 5.0
RATE = 15.0


def scenario_redis(
    stack: Stack,
    index: int = 0,
    modes: tuple[str, ...] = ("auto", "celery"),
    down_seconds: float = DOWN_SECONDS,
) -> list[RunResult]:
    """2a: ``auto`` mode (the web trains in-process while Redis is away); 2b: ``celery``
    mode (every dispatch during the outage fails, so only the outbox sweep recovers)."""
    results = []
    for mode in modes:
        sub = "2a" if mode == "auto" else "2b"
        result = RunResult(sub, f"Redis stopped and restarted under load ({mode} mode)")
        with repetition(stack, f"s2-{sub}-{index}") as rep:
            _start(rep, {"PANTHEON_TASK_MODE": mode})
            prefix = f"s2-{sub}-{index}"
            traffic = Traffic(rep.url, rate=RATE, max_seconds=120, prefix=prefix).start()
            time.sleep(3)
            stack.own_redis().stop(hard=index % 2 == 1)  # odd repetitions: a crash; even: clean
            down_at = time.time()
            probes = _probe_health(rep, down_seconds, result)
            stack.own_redis().start()
            up_at = time.time()
            result.extra["health_during_outage"] = dict(Counter(probes))
            result.check(
                all(code in (200, 503) for code in probes),
                f"health during Redis outage answered {sorted(set(probes))}",
            )
            time.sleep(4)
            _finish(rep, result, traffic.stop(), down_at, up_at)
        results.append(result)
    return results


def scenario_postgres(stack: Stack, index: int = 0) -> list[RunResult]:
    result = RunResult("3", "PostgreSQL restarted under load")
    assert stack.postgres is not None, "scenario 3 needs the stack's private PostgreSQL"
    with repetition(stack, f"s3-{index}") as rep:
        _start(rep)
        traffic = Traffic(rep.url, rate=RATE, max_seconds=120, prefix=f"s3-{index}").start()
        time.sleep(3)
        stack.postgres.stop("immediate" if index % 2 else "fast")
        down_at = time.time()
        probes = _probe_health(rep, DOWN_SECONDS, result)
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


def _start(rep: Rep, web_env: dict[str, str] | None = None) -> None:
    rep.start_web(web_env)  # default auto mode: celery when a worker answers, else in-process
    rep.start_worker()
    rep.start_beat()


#: Read routes probed during an outage besides health: each may answer 503, never a 500.
READS = ("/api/kernels", "/api/queues", "/api/schedule", "/api/tasks/no-such-task", "/metrics")


def _probe_health(rep: Rep, seconds: float, result: RunResult | None = None) -> list[int]:
    """Health codes during an outage; with ``result``, the read routes are checked too."""
    codes: list[int] = []
    deadline = time.monotonic() + seconds
    turn = 0
    while time.monotonic() < deadline:
        codes.append(health(rep.url, timeout=5)[0])
        if result is not None:
            path = READS[turn % len(READS)]
            turn += 1
            try:
                code = httpx.get(rep.url + path, timeout=10).status_code
            except httpx.HTTPError as exc:
                code = 0
                result.extra.setdefault("read_errors", []).append(f"{path}: {exc!r}")
            result.extra.setdefault("reads_during_outage", {})[path] = code
            result.check(
                code != 0 and (code < 500 or code == 503),
                f"GET {path} during the outage answered {code}",
            )
        time.sleep(0.3)
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
    during = summarize(s for s in sent if down_at <= s.at + s.seconds and s.at <= up_at)
    result.extra["answers_during_outage"] = during
    slowest = max((s.seconds for s in sent), default=0.0)
    result.extra["slowest_answer_s"] = round(slowest, 2)
    result.check(slowest <= SLOW_ANSWER_S, f"an intake request took {slowest:.1f} s to answer")
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
