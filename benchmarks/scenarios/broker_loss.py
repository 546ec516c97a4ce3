"""Scenario 10: broker loss at every point of a task's life; the worker must survive.

Under steady intake, the stack's private Redis is stopped (a crash on odd restarts, a clean
stop on even ones) and started again while online tasks are held at a fault point: at the
start of the body, mid-transaction, and after the commit before the acknowledgement. A
worker that hits kombu's closed-channel ``AttributeError`` exits ("Unrecoverable error");
the scenario fails if the worker process is not alive after every restart, and, as every
scenario, if an accepted outcome is lost, trained twice or failed.
"""

from __future__ import annotations

import time

from benchmarks import faults
from benchmarks.load import Traffic
from benchmarks.scenarios.base import RunResult, repetition
from benchmarks.scenarios.outages import RATE, _finish
from pantheon.testing import Stack

ONLINE = "train_from_outcome_task"
#: Where a task is held while Redis goes away: every point of its life.
POINTS = ("start", "before_commit", "after_commit")
RESTARTS = 6
DOWN_SECONDS = 1.5


def scenario_broker_loss(stack: Stack, index: int = 0) -> list[RunResult]:
    result = RunResult("10", "Redis lost at every point of a task's life (worker survives)")
    with repetition(stack, f"s10-{index}") as rep:
        rep.start_web({"PANTHEON_TASK_MODE": "celery"})
        worker = rep.start_worker()
        rep.start_beat()
        traffic = Traffic(rep.url, rate=RATE, max_seconds=300, prefix=f"s10-{index}").start()
        time.sleep(3)
        down_at = up_at = time.time()
        exits = 0
        for turn in range(RESTARTS):
            point = POINTS[(index + turn) % len(POINTS)]
            faults.arm(rep.fault_dir, point, ONLINE, 3.0)
            time.sleep(1.0)  # a task is now held at ``point``
            stack.own_redis().stop(hard=turn % 2 == 1)
            down_at = time.time() if turn == 0 else down_at
            time.sleep(DOWN_SECONDS)
            stack.own_redis().start()
            up_at = time.time()
            time.sleep(4.0)  # the held task finishes: ack/reject on the lost connection
            if not worker.alive():
                exits += 1
                result.failures.append(
                    f"worker exited after Redis restart {turn + 1} (task held at {point})"
                )
                worker = rep.start_worker()  # keep measuring the rest
        faults.disarm(rep.fault_dir)
        result.extra["restarts"] = RESTARTS
        result.extra["worker_exits"] = exits
        _finish(rep, result, traffic.stop(), down_at, up_at)
    return [result]
