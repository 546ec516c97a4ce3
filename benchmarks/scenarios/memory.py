"""Scenario 7: worker memory over 100k outcomes stays flat (with the product's recycling
settings: a child replaced after 1,000 tasks or above 512 MB).

The drain is timed, not held to a deadline: the worker encodes every new prompt, so how
long 100k outcomes take follows the machine's speed (101 outcomes/s in one run, 77–144/s
in ``make bench``'s online-training phase on the same code). What the scenario asks is that training
keeps going until every outcome is trained: it fails when no outcome was trained for
``STALL_S`` seconds, or when the drain passes ``DRAIN_CAP_S``."""

from __future__ import annotations

import time

from benchmarks.load import new_keys, post_batch
from benchmarks.scenarios.base import RunResult, repetition, wait_idle
from pantheon.testing import Stack

TOTAL = 100_000
BATCH = 1_000
#: Growth allowed between the warmed-up worker and the end (the issue 8 target: 10 %).
MAX_GROWTH = 0.10
#: The drain fails when no outcome was trained for this long...
STALL_S = 120.0
#: ...or when it takes longer than this in all.
DRAIN_CAP_S = 3600.0


def scenario_memory(stack: Stack, index: int = 0, total: int = TOTAL) -> list[RunResult]:
    result = RunResult("7", f"worker memory over {total:,} outcomes")
    with repetition(stack, f"s7-{index}") as rep:
        rep.start_web({"PANTHEON_TASK_MODE": "celery"})
        worker = rep.start_worker()
        rep.start_beat()
        samples: list[tuple[int, int]] = []
        ids: list[int] = []
        batches = max(1, total // BATCH)
        for number in range(batches):
            resp = post_batch(rep.url, new_keys(f"s7-{number}", BATCH), seed=number)
            if not result.check(resp.status_code == 202, f"batch {number}: {resp.status_code}"):
                break
            ids.extend(int(i) for i in resp.json()["outcome_ids"])
            result.sent += BATCH
            samples.append((len(ids), worker.rss()))
        took = rep.wait_all_trained(ids, DRAIN_CAP_S, stall=STALL_S)
        result.check(
            took is not None,
            f"outcomes not trained: none for {STALL_S:.0f} s, or not all in {DRAIN_CAP_S:.0f} s",
        )
        wait_idle(rep, 2.0)
        samples.append((len(ids), worker.rss()))
        # Pool children are replaced now and then, so RSS saws up and down: compare the
        # peaks of the second tenth-to-third (warmed up) and of the last third.
        early = [rss for count, rss in samples if total // 10 <= count <= total // 3]
        late = [rss for count, rss in samples if count >= total * 2 // 3]
        start = max(early or [samples[0][1]])
        end = max(late or [samples[-1][1]])
        growth = (end - start) / start if start else 0.0
        result.extra.update(
            rss_start_mb=round(start / 2**20, 1),
            rss_end_mb=round(end / 2**20, 1),
            growth=round(growth, 3),
            samples=[(c, round(r / 2**20, 1)) for c, r in samples[:: max(1, len(samples) // 20)]],
        )
        result.check(growth <= MAX_GROWTH, f"worker RSS grew {growth:.1%} (> {MAX_GROWTH:.0%})")
        result.extra["drain_after_last_batch_s"] = None if took is None else round(took, 1)
        began = time.time()
        result.add_audit(rep.auditor.audit(ids))
        result.extra["audit_s"] = round(time.time() - began, 1)
    return [result]
