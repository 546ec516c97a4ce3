"""What every scenario shares: the result record, short limits, one repetition's processes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks import faults
from benchmarks.audit import Audit, Auditor
from benchmarks.load import GODS, LONE_GOD, Sent, new_keys, post_outcomes
from pantheon.testing import Proc, Stack

#: Limits short enough for a test, long enough for a loaded two-core machine. The Redis
#: visibility timeout follows from the hard limits: 1.5 x 50 + 60 = 135 s.
FAST_ENV: dict[str, str] = {
    "PANTHEON_TASK_SOFT_TIME_LIMIT": "20",
    "PANTHEON_TASK_TIME_LIMIT": "30",
    "PANTHEON_SLOW_TASK_SOFT_TIME_LIMIT": "40",
    "PANTHEON_SLOW_TASK_TIME_LIMIT": "50",
    "PANTHEON_TASK_RETRY_DELAY_SCALE": "0.02",
    "PANTHEON_OUTBOX_SWEEP_AFTER": "4",
    "PANTHEON_SCHEDULE_OUTBOX": "every:2",
    # Scheduled jobs far away unless a scenario wants them.
    "PANTHEON_SCHEDULE_HOURLY": "0 0 1 1 *",
    "PANTHEON_SCHEDULE_NIGHTLY": "0 0 1 1 *",
    "PANTHEON_SCHEDULE_SHADOW_SYNC": "0 0 1 1 *",
    "PANTHEON_SCHEDULE_CLEANUP": "0 0 1 1 *",
    "PANTHEON_BEAT_LOCK_TIMEOUT": "6",
    "PANTHEON_MODE_CACHE_SECONDS": "1",
    # The web's embedded scheduler stays on, as deployed: it stands by while Beat's lock
    # is held and fires the slots itself when it is not.
}


@dataclass
class RunResult:
    """One repetition of one (sub-)scenario."""

    scenario: str
    title: str
    sent: int = 0
    accepted: int = 0
    trained_once: int = 0
    lost: int = 0
    duplicated: int = 0
    recovery_s: float | None = None
    redelivery_s: float | None = None
    failures: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    run_dir: str = ""
    #: What sent/accepted/trained count: outcomes, slots (Beat), requests or tests.
    unit: str = "outcomes"

    @property
    def ok(self) -> bool:
        return not self.failures and self.lost == 0 and self.duplicated == 0

    def check(self, condition: bool, message: str) -> bool:
        if not condition:
            self.failures.append(message)
        return condition

    def add_audit(self, audit: Audit) -> None:
        self.accepted += audit.accepted
        self.trained_once += audit.trained_once
        self.lost += audit.n_lost
        self.duplicated += audit.n_duplicated
        if audit.lost:
            self.extra.setdefault("lost_ids", []).extend(audit.lost[:20])
        if audit.duplicated:
            self.extra.setdefault("duplicated_ids", []).extend(audit.duplicated[:20])
        self.extra["per_outcome_audit"] = audit.per_outcome_ids

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out


@dataclass
class Rep:
    """One repetition's processes, database and fault directory."""

    stack: Stack
    fault_dir: Path
    auditor: Auditor
    web: Proc | None = None
    workers: list[Proc] = field(default_factory=list)
    beats: list[Proc] = field(default_factory=list)

    @property
    def url(self) -> str:
        assert self.web is not None
        return self.web.url

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**FAST_ENV, "RELIABILITY_FAULT_DIR": str(self.fault_dir), **(extra or {})}

    def start_web(self, env: Mapping[str, str] | None = None) -> Proc:
        self.web = self.stack.serve(self.env(env))
        return self.web

    def start_worker(self, env: Mapping[str, str] | None = None, concurrency: int = 2) -> Proc:
        worker = self.stack.worker(self.env(env), concurrency=concurrency, app="benchmarks.faults")
        self.workers.append(worker)
        return worker

    def start_beat(self, env: Mapping[str, str] | None = None) -> Proc:
        beat = self.stack.beat(self.env(env))
        self.beats.append(beat)
        return beat

    def events(self) -> list[tuple[float, int, str, str, str]]:
        return faults.read_events(self.fault_dir)

    def wait_all_trained(
        self,
        ids: Sequence[int],
        timeout: float,
        column: str = "trained_online_at",
        *,
        stall: float | None = None,
    ) -> float | None:
        return self.auditor.wait_trained(ids, timeout, column, stall=stall)


@contextmanager
def repetition(stack: Stack, name: str) -> Iterator[Rep]:
    """A fresh database, an empty Redis and a fault directory; processes killed after."""
    stack.kill_processes()
    stack.reset_broker()
    stack.new_database()
    fault_dir = stack.run_dir / f"faults-{name}-{uuid.uuid4().hex[:6]}"
    fault_dir.mkdir(parents=True)
    auditor = Auditor(stack.database_url)
    rep = Rep(stack=stack, fault_dir=fault_dir, auditor=auditor)
    try:
        yield rep
    finally:
        auditor.close()
        stack.kill_processes()
        faults.disarm(fault_dir)


def warm_kernels(rep: Rep, timeout: float = 60) -> list[int]:
    """One trained outcome per god, so every kernel exists: a task's first commit is then
    its training step, not the creation of a fresh kernel (what the faults aim at)."""
    ids: list[int] = []
    for god in (*GODS, LONE_GOD):
        ids += accepted_ids(post_outcomes(rep.url, new_keys(f"warm-{god}", 1), gods=(god,)))
    if rep.wait_all_trained(ids, timeout) is None:
        raise RuntimeError("warm-up outcomes were not trained")
    wait_idle(rep)
    return ids


def accepted_ids(sent: Sequence[Sent]) -> list[int]:
    return sorted({s.outcome_id for s in sent if s.outcome_id is not None and s.status < 300})


def redelivery_after(rep: Rep, task_id: str, after: float, wait: float = 0.0) -> float | None:
    """Seconds from ``after`` to the next start of ``task_id``; None when it did not start
    again within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        starts = [t for t, _, ev, _, tid in rep.events() if tid == task_id and ev == "start"]
        later = [t for t in starts if t > after]
        if later:
            return min(later) - after
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def health(url: str, timeout: float = 3.0) -> tuple[int, dict[str, Any]]:
    try:
        resp = httpx.get(url + "/api/health", timeout=timeout)
    except httpx.HTTPError:
        return 0, {}
    try:
        return resp.status_code, dict(resp.json())
    except ValueError:
        return resp.status_code, {}


def wait_idle(rep: Rep, seconds: float = 1.0, timeout: float = 30.0) -> None:
    """Wait until no task started for ``seconds`` (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = rep.events()
        if not events or time.time() - events[-1][0] > seconds:
            return
        time.sleep(0.2)
