from __future__ import annotations

import pytest

from pantheon.worker import queues, task_metrics

pytestmark = pytest.mark.unit


def test_local_counts_merge_into_the_snapshot() -> None:
    task_metrics.reset_local()
    task_metrics.record_local(queues.HOURLY_BATCH_ALL, "success", 0.5, {"status": "success"})
    task_metrics.record_local(queues.HOURLY_BATCH_ALL, "success", 0.25, {"status": "skipped"})
    task_metrics.record_local(queues.HOURLY_BATCH_ALL, "retry", None)
    task_metrics.record_local(queues.HOURLY_BATCH_ALL, "failure", 1.0)
    snap = task_metrics.snapshot()
    counts = snap[queues.HOURLY_BATCH_ALL]
    assert (counts["success"], counts["failure"], counts["retry"], counts["duplicate"]) == (
        2,
        1,
        1,
        1,
    )
    assert counts["duration_sum"] == pytest.approx(1.75)
    assert counts["duration_count"] == 3
    assert set(snap) == set(queues.TASK_QUEUES)
    assert snap[queues.SYNC_SHADOWS]["success"] == 0
    task_metrics.reset_local()


def test_run_times_fill_cumulative_histogram_buckets() -> None:
    task_metrics.reset_local()
    for seconds in (0.003, 0.2, 0.2, 45.0, 5000.0):
        task_metrics.record_local(queues.NIGHTLY_ALL, "success", seconds, {"status": "success"})
    row = task_metrics.snapshot()[queues.NIGHTLY_ALL]
    buckets = dict(task_metrics.cumulative_buckets(row))
    assert buckets["0.005"] == 1
    assert buckets["0.1"] == 1
    assert buckets["0.25"] == 3
    assert buckets["30"] == 3
    assert buckets["60"] == 4
    assert buckets["1800"] == 4
    assert buckets["+Inf"] == 5 == row["duration_count"]
    counts = [count for _, count in task_metrics.cumulative_buckets(row)]
    assert counts == sorted(counts)
    task_metrics.reset_local()
