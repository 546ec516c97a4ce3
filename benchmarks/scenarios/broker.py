"""Scenarios 5 and 6: poison (soft time limit, endless failure, malformed messages) and
duplicate deliveries (the same task published twice; a task redelivered after its commit)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from typing import Any

import redis
from kombu.connection import Connection

from benchmarks import faults
from benchmarks.load import LONE_GOD, new_keys, post_outcomes
from benchmarks.scenarios.base import (
    Rep,
    RunResult,
    accepted_ids,
    redelivery_after,
    repetition,
    wait_idle,
    warm_kernels,
)
from pantheon.testing import Stack, wait_until

ONLINE = "train_from_outcome_task"
ONLINE_TASK = "training.tasks.train_from_outcome_task"
#: The seed's policy for the online task: 3 retries, so at most 4 executions.
ONLINE_MAX_RETRIES = 3
LIMITS = {"PANTHEON_TASK_SOFT_TIME_LIMIT": "2", "PANTHEON_TASK_TIME_LIMIT": "6"}


def scenario_poison(stack: Stack, index: int = 0) -> list[RunResult]:
    results: list[RunResult] = []
    with repetition(stack, f"s5-{index}") as rep:
        rep.start_web({"PANTHEON_TASK_MODE": "celery"})
        rep.start_worker(LIMITS)
        warm_kernels(rep)
        results.append(_soft_limit(rep))
        results.append(_keeps_failing(rep))
        results.append(_malformed(rep, stack))
    return results


def _finished(rep: Rep, task_id: str) -> bool:
    return any(
        tid == task_id and ev.startswith(("success", "failure"))
        for _, _, ev, _, tid in rep.events()
    )


def _starts(rep: Rep, task_id: str) -> int:
    return sum(1 for _, _, ev, _, tid in rep.events() if tid == task_id and ev == "start")


def _soft_limit(rep: Rep) -> RunResult:
    result = RunResult("5a", "soft time limit: rolled back, retried")
    faults.arm(rep.fault_dir, "before_commit", ONLINE, 4)  # past the 2 s soft limit
    sent = post_outcomes(rep.url, new_keys("s5a", 6))
    ids = accepted_ids(sent)
    result.sent = len(sent)
    hit = faults.wait_hit(rep.fault_dir, "before_commit", 30)
    if result.check(hit is not None, "armed fault never hit"):
        assert hit is not None
        _, task_id, hit_at = hit
        took = rep.wait_all_trained(ids, 60)
        result.check(took is not None, "outcomes not trained within 60 s")
        try:  # the retry comes after the soft limit fires, maybe after the others trained
            wait_until(lambda: _finished(rep, task_id), 30, what="the retried task")
        except TimeoutError:
            result.failures.append("the task over its soft limit never finished")
        events = [ev for _, _, ev, _, tid in rep.events() if tid == task_id]
        result.extra["events"] = events
        result.check("retry" in events, f"the task over its soft limit was not retried: {events}")
        result.redelivery_s = redelivery_after(rep, task_id, hit_at, wait=30)
        result.recovery_s = time.time() - hit_at if took is not None else None
    wait_idle(rep)
    mismatch = rep.auditor.step_mismatches()
    result.check(not mismatch, f"kernel steps differ from recorded steps: {mismatch}")
    result.add_audit(rep.auditor.audit(ids))
    return result


def _keeps_failing(rep: Rep) -> RunResult:
    result = RunResult("5b", "always over the soft limit: stops after max retries")
    wait_idle(rep)
    task_ids = {tid for _, _, ev, name, tid in rep.events() if name == ONLINE_TASK}
    faults.arm(rep.fault_dir, "before_commit", ONLINE, 4, always=True)
    sent = post_outcomes(rep.url, new_keys("s5b", 1))
    result.sent = len(sent)

    def final_failure() -> str | None:
        for _, _, ev, name, tid in rep.events():
            if name == ONLINE_TASK and tid not in task_ids and ev.startswith("failure"):
                return tid
        return None

    try:
        failed = wait_until(final_failure, 90, 0.5, what="the final failure")
    except TimeoutError:
        failed = None
    if result.check(failed is not None, "the always-failing task never failed for good"):
        time.sleep(5)  # a loop would show more executions here
        starts = _starts(rep, str(failed))
        result.extra["executions"] = starts
        result.check(
            starts == ONLINE_MAX_RETRIES + 1,
            f"{starts} executions, expected {ONLINE_MAX_RETRIES + 1} (1 + max_retries)",
        )
    faults.disarm(rep.fault_dir)
    # Nothing is lost for good: the outbox sweep (Beat) trains it once the fault is gone.
    began = time.time()
    rep.start_beat()
    ids = accepted_ids(sent)
    took = rep.wait_all_trained(ids, 60)
    result.check(took is not None, "the outcome was not trained by the outbox sweep")
    result.recovery_s = time.time() - began if took is not None else None
    wait_idle(rep)
    result.add_audit(rep.auditor.audit(ids))
    return result


def _malformed(rep: Rep, stack: Stack) -> RunResult:
    result = RunResult("5c", "malformed messages rejected once")
    ids = {kind: str(uuid.uuid4()) for kind in ("badjson", "pickle", "unknown", "badargs", "noid")}
    _publish_malformed(stack, ids)
    result.sent = len(ids)
    time.sleep(6)
    log1 = rep.workers[-1].log_text()
    time.sleep(6)
    log2 = rep.workers[-1].log_text()
    # The refusal of pickled content names no id: its message text is the marker.
    marks = {**ids, "pickle": "Refusing to deserialize untrusted content"}
    mentions = {kind: log2.count(mark) for kind, mark in marks.items()}
    result.extra["log_mentions"] = mentions
    grew = {
        k: (log1.count(m), log2.count(m)) for k, m in marks.items() if log2.count(m) > log1.count(m)
    }
    silent = sorted(k for k, n in mentions.items() if n == 0 and k not in ("badargs", "noid"))
    result.check(not silent, f"no trace of the {silent} message(s) in the worker log")
    for kind in ("badargs", "noid"):
        starts = _starts(rep, ids[kind])
        result.check(starts == 1, f"{kind} message executed {starts} times (expected once)")
    result.check(not grew, f"messages still being redelivered: {grew}")
    # Beat's sweep runs every few seconds: a message in flight is fine, one stuck is not.
    depth = _queue_state(stack)
    deadline = time.monotonic() + 15
    while (depth["training_fast"] or depth["unacked"]) and time.monotonic() < deadline:
        time.sleep(0.5)
        depth = _queue_state(stack)
    result.extra["queue_state"] = depth
    result.check(
        depth["training_fast"] == 0 and depth["unacked"] == 0,
        f"messages left on the broker: {depth}",
    )
    result.check(bool(stack.ping(rep.workers[-1].url)), "worker stopped answering pings")
    # The worker still trains: these outcomes are the run's counted ones.
    sent = post_outcomes(rep.url, new_keys("s5c", 3))
    ids_ok = accepted_ids(sent)
    result.sent += len(sent)
    took = rep.wait_all_trained(ids_ok, 30)
    result.check(took is not None, "worker does not train after the malformed messages")
    wait_idle(rep)
    result.add_audit(rep.auditor.audit(ids_ok))
    return result


def _publish_malformed(stack: Stack, ids: dict[str, str]) -> None:
    with Connection(stack.broker_url) as conn:
        producer = conn.Producer()
        base: dict[str, Any] = {"exchange": "", "routing_key": "training_fast"}
        producer.publish(
            b"{not json",
            content_type="application/json",
            content_encoding="utf-8",
            serializer=None,
            headers={"task": ONLINE_TASK, "id": ids["badjson"], "lang": "py"},
            **base,
        )
        # Bytes labelled pickle: the worker must refuse the content type, not load it.
        producer.publish(
            b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01.",
            content_type="application/x-python-serialize",
            content_encoding="binary",
            serializer=None,
            headers={"task": ONLINE_TASK, "id": ids["pickle"], "lang": "py"},
            **base,
        )
    capp = stack.control_app()
    try:
        opts: dict[str, Any] = {"queue": "training_fast"}
        capp.send_task("training.tasks.no_such_task", kwargs={}, task_id=ids["unknown"], **opts)
        capp.send_task(
            ONLINE_TASK, kwargs={"outcome_id": "not-a-number"}, task_id=ids["badargs"], **opts
        )
        capp.send_task(ONLINE_TASK, kwargs={"outcome_id": 987654321}, task_id=ids["noid"], **opts)
    finally:
        capp.close()


def _queue_state(stack: Stack) -> dict[str, int]:
    state = {"training_fast": stack.queue_depth("training_fast"), "unacked": 0}
    if stack.rabbit is None:  # Redis keeps delivered, unacknowledged messages in a hash
        assert stack.broker_url is not None, "queue_depth refuses a stack without a broker"
        client = redis.Redis.from_url(stack.broker_url)
        try:
            state["unacked"] = int(client.hlen("unacked"))
        finally:
            client.close()
    return state


#: Short hard limits make the Redis visibility timeout its floor: 1.5 x 4 + 60 = 66 s.
VISIBILITY_ENV = {
    "PANTHEON_TASK_SOFT_TIME_LIMIT": "2",
    "PANTHEON_TASK_TIME_LIMIT": "3",
    "PANTHEON_SLOW_TASK_SOFT_TIME_LIMIT": "3",
    "PANTHEON_SLOW_TASK_TIME_LIMIT": "4",
}


def scenario_duplicates(
    stack: Stack, index: int = 0, visibility: bool | None = None
) -> list[RunResult]:
    """6a duplicate publish, 6b redelivery after commit; 6c (first repetition only, unless
    ``visibility`` says otherwise): the whole worker killed after commit, the broker's own
    redelivery awaited (Redis: the visibility timeout, over a minute)."""
    results: list[RunResult] = []
    with repetition(stack, f"s6-{index}") as rep:
        rep.start_web({"PANTHEON_TASK_MODE": "celery"})
        rep.start_worker()
        warm_kernels(rep)
        results.append(_duplicate_publish(rep, stack))
        results.append(_redelivered_after_commit(rep))
    if visibility if visibility is not None else index == 0:
        with repetition(stack, f"s6c-{index}") as rep:
            rep.start_web({"PANTHEON_TASK_MODE": "celery", **VISIBILITY_ENV})
            rep.start_worker(VISIBILITY_ENV)
            warm_kernels(rep)
            results.append(_broker_redelivery(rep, stack))
    return results


def _broker_redelivery(rep: Rep, stack: Stack) -> RunResult:
    result = RunResult("6c", "whole worker killed after commit: broker redelivers, no-op")
    faults.arm(rep.fault_dir, "after_commit", ONLINE, 600)
    sent = post_outcomes(rep.url, new_keys("s6c", 1), gods=(LONE_GOD,))
    ids = accepted_ids(sent)
    result.sent = len(sent)
    hit = faults.wait_hit(rep.fault_dir, "after_commit", 30)
    if result.check(hit is not None, "armed fault never hit"):
        assert hit is not None
        _, task_id, _ = hit
        result.check(rep.auditor.pending(ids) == 0, "the fault hit before the training commit")
        killed_at = time.time()
        rep.workers[-1].kill()
        faults.disarm(rep.fault_dir)
        rep.start_worker(VISIBILITY_ENV)
        # Redis: visibility timeout (66 s here) plus kombu's restore sweep; RabbitMQ: at once.
        result.redelivery_s = redelivery_after(rep, task_id, killed_at, wait=240)
        result.check(result.redelivery_s is not None, "the broker never redelivered the task")
        try:
            wait_until(lambda: _finished(rep, task_id), 30, what="the redelivered task")
        except TimeoutError:
            result.failures.append("the redelivered task did not finish")
        after = [ev for t, _, ev, _, tid in rep.events() if tid == task_id and t > killed_at]
        result.extra["redelivered_result"] = after
        result.check("success:duplicate" in after, f"redelivery was not a no-op: {after}")
        result.recovery_s = result.redelivery_s
    wait_idle(rep)
    result.add_audit(rep.auditor.audit(ids))
    return result


def _duplicate_publish(rep: Rep, stack: Stack) -> RunResult:
    result = RunResult("6a", "the same task published twice")
    sent = post_outcomes(rep.url, new_keys("s6a", 10))
    ids = accepted_ids(sent)
    result.sent = len(sent)
    result.check(rep.wait_all_trained(ids, 60) is not None, "outcomes not trained within 60 s")
    wait_idle(rep)
    before = rep.auditor.kernel_states()
    capp = stack.control_app()
    task_ids = []
    try:
        for outcome_id in ids * 2:
            task_id = str(uuid.uuid4())
            capp.send_task(
                ONLINE_TASK,
                kwargs={"outcome_id": outcome_id},
                task_id=task_id,
                queue="training_fast",
            )
            task_ids.append(task_id)
    finally:
        capp.close()

    def all_done() -> bool:
        done = {tid for _, _, ev, _, tid in rep.events() if ev.startswith("success")}
        return all(t in done for t in task_ids)

    try:
        wait_until(all_done, 60, 0.3, what="duplicate tasks")
    except TimeoutError:
        result.failures.append("duplicate tasks did not all finish within 60 s")
    statuses = Counter(ev for _, _, ev, _, tid in rep.events() if tid in set(task_ids))
    result.extra["duplicate_task_results"] = dict(statuses)
    result.check(
        statuses.get("success:duplicate", 0) == len(task_ids),
        f"expected {len(task_ids)} 'duplicate' results, got {dict(statuses)}",
    )
    after = rep.auditor.kernel_states()
    changed = [name for name in after if before.get(name) != after[name]]
    result.check(not changed, f"duplicates changed kernels: {changed}")
    result.add_audit(rep.auditor.audit(ids))
    return result


def _redelivered_after_commit(rep: Rep) -> RunResult:
    result = RunResult("6b", "task redelivered after its commit (child killed before ack)")
    faults.arm(rep.fault_dir, "after_commit", ONLINE, 60)
    lone = accepted_ids(post_outcomes(rep.url, new_keys("s6b-lone", 1), gods=(LONE_GOD,)))
    hit = faults.wait_hit(rep.fault_dir, "after_commit", 30)
    sent = post_outcomes(rep.url, new_keys("s6b", 9))  # other gods, while the victim hangs
    ids = lone + accepted_ids(sent)
    result.sent = len(sent) + 1
    if result.check(hit is not None, "armed fault never hit"):
        assert hit is not None
        pid, task_id, _ = hit
        result.check(rep.auditor.pending(lone) == 0, "the fault hit before the training commit")
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        took = rep.wait_all_trained(ids, 60)
        result.check(took is not None, "outcomes not trained within 60 s")
        result.redelivery_s = redelivery_after(rep, task_id, killed_at, wait=30)
        result.check(result.redelivery_s is not None, "the killed task was not redelivered")
        try:
            wait_until(
                lambda: any(
                    tid == task_id and t > killed_at and ev.startswith("success")
                    for t, _, ev, _, tid in rep.events()
                ),
                30,
                what="redelivery",
            )
        except TimeoutError:
            result.failures.append("the redelivered task did not finish")
        result.recovery_s = time.time() - killed_at if took is not None else None
        after = [ev for t, _, ev, _, tid in rep.events() if tid == task_id and t > killed_at]
        result.extra["redelivered_result"] = after
        result.check("success:duplicate" in after, f"redelivery was not a no-op: {after}")
    faults.disarm(rep.fault_dir)
    wait_idle(rep)
    result.add_audit(rep.auditor.audit(ids))
    return result
