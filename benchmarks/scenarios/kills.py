"""Scenario 1: kill a pool child mid-task (online step, hourly batch), then the whole worker
(SIGKILL), then stop it warmly (SIGTERM); every accepted outcome trained once per timescale."""

from __future__ import annotations

import os
import signal
import time

import httpx

from benchmarks import faults
from benchmarks.load import GODS, LONE_GOD, new_keys, post_outcomes
from benchmarks.scenarios.base import (
    Rep,
    RunResult,
    accepted_ids,
    redelivery_after,
    repetition,
    wait_idle,
    warm_kernels,
)
from pantheon.testing import Proc, Stack

ONLINE = "train_from_outcome_task"
HOURLY = "train_hourly_batch_all"


ALL_CASES = ("1a", "1b", "1c", "1d")


def scenario_kills(
    stack: Stack, index: int = 0, n: int = 24, cases: tuple[str, ...] = ALL_CASES
) -> list[RunResult]:
    """``cases``: 1a child kill online, 1b child kill hourly, 1c worker SIGKILL, 1d SIGTERM."""
    results: list[RunResult] = []
    with repetition(stack, f"s1-{index}") as rep:
        # celery mode: the web never trains in-process, so recovery is the worker's alone.
        rep.start_web({"PANTHEON_TASK_MODE": "celery"})
        rep.start_beat()
        rep.start_worker()
        warm_kernels(rep)
        if "1a" in cases:
            results.append(_child_kill_online(rep, n))
        if "1b" in cases:
            if "1a" not in cases:  # the hourly batch needs outcomes to work on
                _send(rep, RunResult("1b", ""), "s1b", n)
            results.append(_child_kill_hourly(rep))
        if "1c" in cases:
            results.append(_whole_worker(rep, rep.workers[-1], n, warm=False))
        if "1d" in cases:
            results.append(_whole_worker(rep, rep.workers[-1], n, warm=True))
    for result in results:
        result.run_dir = str(stack.run_dir)
    return results


def _send(
    rep: Rep, result: RunResult, prefix: str, n: int, gods: tuple[str, ...] = GODS
) -> list[int]:
    sent = post_outcomes(rep.url, new_keys(prefix, n), concurrency=4, gods=gods)
    result.sent += len(sent)
    bad = [s for s in sent if s.status >= 300 or s.status == 0]
    result.check(not bad, f"{len(bad)} intake requests not accepted: {bad[:2]}")
    return accepted_ids(sent)


Hit = tuple[int, str, float] | None


def _send_with_victim(rep: Rep, result: RunResult, prefix: str, n: int) -> tuple[list[int], Hit]:
    """One outcome of the lone god first, until its task meets the armed fault; then ``n``
    more for the other gods while it hangs. Returns the ids and the hit."""
    ids = _send(rep, result, prefix + "-lone", 1, gods=(LONE_GOD,))
    hit = faults.wait_hit(rep.fault_dir, "before_commit", 30)
    return ids + _send(rep, result, prefix, n), hit


def _kill_victim(
    rep: Rep,
    result: RunResult,
    hit: Hit,
    ids: list[int],
    what: str,
    done: str,
    column: str = "trained_online_at",
) -> None:
    """SIGKILL the pool child that met the armed fault; every outcome must then be ``done``
    (``column``: the column that says so) and the killed task delivered again."""
    if not result.check(hit is not None, f"armed {what} fault never hit"):
        return
    assert hit is not None
    pid, task_id, _ = hit
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    took = rep.wait_all_trained(ids, 90, column)
    result.check(took is not None, f"outcomes not all {done} within 90 s")
    result.recovery_s = time.time() - killed_at if took is not None else None
    result.redelivery_s = redelivery_after(rep, task_id, killed_at, wait=30)
    result.check(result.redelivery_s is not None, f"killed {what} task was never redelivered")


def _child_kill_online(rep: Rep, n: int) -> RunResult:
    result = RunResult("1a", "pool child SIGKILL mid online step")
    faults.arm(rep.fault_dir, "before_commit", ONLINE, 60)
    ids, hit = _send_with_victim(rep, result, "s1a", n)
    _kill_victim(rep, result, hit, ids, "online", "trained")
    faults.disarm(rep.fault_dir)
    wait_idle(rep)
    result.add_audit(rep.auditor.audit(ids))
    return result


def _child_kill_hourly(rep: Rep) -> RunResult:
    result = RunResult("1b", "pool child SIGKILL mid hourly batch")
    ids = rep.auditor.all_outcome_ids()
    result.sent = len(ids)
    # The second commit: the run has claimed its slot and trained at least one god.
    faults.arm(rep.fault_dir, "before_commit", HOURLY, 60, nth=2)
    resp = httpx.post(rep.url + "/api/training/hourly", timeout=30)
    result.check(resp.status_code == 202, f"POST /api/training/hourly -> {resp.status_code}")
    hit = faults.wait_hit(rep.fault_dir, "before_commit", 30)
    _kill_victim(rep, result, hit, ids, "hourly", "batch-processed", column="batch_processed_at")
    faults.disarm(rep.fault_dir)
    wait_idle(rep)
    result.add_audit(rep.auditor.audit(ids, timescale="hourly_batch"))
    return result


def _whole_worker(rep: Rep, worker: Proc, n: int, warm: bool) -> RunResult:
    if warm:
        result = RunResult("1d", "worker SIGTERM (warm shutdown) mid online step")
    else:
        result = RunResult("1c", "whole worker SIGKILL mid online step")
    # A warm shutdown waits for the running task: keep the pause short.
    faults.arm(rep.fault_dir, "before_commit", ONLINE, 3 if warm else 60)
    ids, hit = _send_with_victim(rep, result, "s1d" if warm else "s1c", n)
    if result.check(hit is not None, "armed online fault never hit"):
        assert hit is not None
        _, task_id, _ = hit
        stopped_at = time.time()
        if warm:
            code = worker.stop(timeout=30)
            result.check(code == 0, f"warm shutdown exit code {code} (expected 0)")
            finished = [
                ev
                for t, _, ev, _, tid in rep.events()
                if tid == task_id and t > stopped_at and ev.startswith("success")
            ]
            result.check(bool(finished), "the running task did not finish on warm shutdown")
        else:
            worker.kill()
        rep.start_worker()
        took = rep.wait_all_trained(ids, 120)
        result.check(took is not None, "outcomes not all trained within 120 s")
        result.recovery_s = time.time() - stopped_at if took is not None else None
        result.redelivery_s = redelivery_after(rep, task_id, stopped_at)
    faults.disarm(rep.fault_dir)
    wait_idle(rep)
    result.add_audit(rep.auditor.audit(ids))
    return result
