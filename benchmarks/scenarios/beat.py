"""Scenario 4: two Beat processes over many slots, the leader killed, then Beat down across
slots. Counted per slot: each slot of the hourly job covered by exactly one successful run
(``schedule_runs`` + each run's ``covered_slots``); a slot never covered is lost."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

from benchmarks.scenarios.base import FAST_ENV, Rep, RunResult, repetition
from pantheon.testing import Proc, Stack

INTERVAL = 3  # seconds between slots
LOCK_TIMEOUT = float(FAST_ENV["PANTHEON_BEAT_LOCK_TIMEOUT"])
ENV = {"PANTHEON_SCHEDULE_HOURLY": f"every:{INTERVAL}"}


def scenario_beat(stack: Stack, index: int = 0) -> list[RunResult]:
    result = RunResult("4", "two Beats: one run per slot, failover, catch-up", unit="slots")
    with repetition(stack, f"s4-{index}") as rep:
        rep.start_worker(ENV)
        first = rep.start_beat(ENV)
        time.sleep(1.0)
        second = rep.start_beat(ENV)
        started = time.time()
        time.sleep(INTERVAL * 5)
        # Failover: kill whichever Beat is sending.
        leader = _leader(first, second)
        result.check(leader is not None, "no Beat logged a send")
        standby = second if leader is first else first
        killed_at = time.time()
        (leader or first).kill()
        takeover = _first_run_after(rep, killed_at, LOCK_TIMEOUT + INTERVAL * 3 + 10)
        result.extra["takeover_s"] = takeover
        result.check(
            takeover is not None and takeover <= LOCK_TIMEOUT + INTERVAL + 5,
            f"standby took over after {takeover} s (lock timeout {LOCK_TIMEOUT} s)",
        )
        result.recovery_s = takeover
        time.sleep(INTERVAL * 2)
        # Beat down across slots: one catch-up run must cover them.
        standby.kill()
        down_at = time.time()
        time.sleep(INTERVAL * 4)
        rep.start_beat(ENV)
        catch_up = _wait_catch_up(rep, down_at, 30)
        result.extra["catch_up_covered"] = catch_up
        result.check(
            catch_up is not None and catch_up >= 4,
            f"first run after the downtime covered {catch_up} slots (expected >= 4)",
        )
        time.sleep(INTERVAL * 2)
        _count_slots(rep, result, started)
        _count_sends(rep, result)
    return [result]


def _count_sends(rep: Rep, result: RunResult) -> None:
    """Slots of the hourly job that more than one Beat sent (the lock should prevent it;
    the ledger would turn the second into a no-op, but it should not come to that)."""
    sends: Counter[str] = Counter()
    for beat in rep.beats:
        for line in beat.log_text().splitlines():
            if "beat: sending training.tasks.train_hourly_batch_all for slot" in line:
                sends[line.rsplit(" ", 1)[-1]] += 1
    doubled = sorted(slot for slot, n in sends.items() if n > 1)
    result.extra["slots_sent"] = len(sends)
    result.extra["slots_sent_twice"] = doubled
    result.check(not doubled, f"slots sent by two Beats: {doubled}")


def _leader(*beats: Proc) -> Proc | None:
    """The Beat that sends: the one whose log gains a send within the next slots."""
    marks = [len(b.log_text()) for b in beats]
    deadline = time.monotonic() + INTERVAL * 2 + 1
    while time.monotonic() < deadline:
        for beat, mark in zip(beats, marks, strict=True):
            if "beat: sending" in beat.log_text()[mark:]:
                return beat
        time.sleep(0.2)
    return None


def _hourly_runs(rep: Rep) -> list[dict[str, object]]:
    return rep.auditor.schedule_runs("hourly_batch")


def _first_run_after(rep: Rep, moment: float, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in _hourly_runs(rep):
            begun = run.get("started_at")
            if isinstance(begun, datetime) and _ts(begun) > moment:
                return _ts(begun) - moment
        time.sleep(0.3)
    return None


def _wait_catch_up(rep: Rep, moment: float, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in _hourly_runs(rep):
            begun = run.get("started_at")
            result = run.get("result")
            if (
                isinstance(begun, datetime)
                and _ts(begun) > moment + INTERVAL * 3
                and run.get("status") == "success"
                and isinstance(result, dict)
            ):
                return len(result.get("covered_slots") or [])
        time.sleep(0.3)
    return None


def _count_slots(rep: Rep, result: RunResult, started: float) -> None:
    runs = _hourly_runs(rep)
    covered: Counter[str] = Counter()
    for run in runs:
        body = run.get("result")
        if run.get("status") == "success" and isinstance(body, dict):
            covered.update(str(s) for s in body.get("covered_slots") or [])
    slots = sorted(datetime.fromisoformat(s) for s in covered)
    if not slots:
        result.failures.append("no hourly run recorded")
        return
    first, last = _ts(slots[0]), _ts(slots[-1])
    expected = [first + INTERVAL * i for i in range(round((last - first) / INTERVAL) + 1)]
    seen = {round(_ts(s)) for s in slots}
    missing = [t for t in expected if round(t) not in seen]
    result.sent = len(expected)
    result.accepted = len(expected)
    result.lost = len(missing)
    result.duplicated = sum(1 for n in covered.values() if n > 1)
    result.trained_once = sum(1 for n in covered.values() if n == 1)
    result.extra["runs"] = len(runs)
    result.extra["statuses"] = dict(Counter(str(r.get("status")) for r in runs))
    result.extra["window_s"] = round(time.time() - started, 1)


def _ts(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
