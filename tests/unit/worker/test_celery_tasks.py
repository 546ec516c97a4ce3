from __future__ import annotations

import pytest

from pantheon.worker import celery_tasks, queues

pytestmark = pytest.mark.unit


def test_local_counts_merge_into_the_snapshot() -> None:
    celery_tasks.reset_local()
    celery_tasks.record_local(queues.HOURLY_BATCH_ALL, "success", 0.5, {"status": "success"})
    celery_tasks.record_local(queues.HOURLY_BATCH_ALL, "success", 0.25, {"status": "skipped"})
    celery_tasks.record_local(queues.HOURLY_BATCH_ALL, "retry", None)
    celery_tasks.record_local(queues.HOURLY_BATCH_ALL, "failure", 1.0)
    snap = celery_tasks.snapshot()
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
    celery_tasks.reset_local()


def test_run_times_fill_cumulative_histogram_buckets() -> None:
    celery_tasks.reset_local()
    for seconds in (0.003, 0.2, 0.2, 45.0, 5000.0):
        celery_tasks.record_local(queues.NIGHTLY_ALL, "success", seconds, {"status": "success"})
    row = celery_tasks.snapshot()[queues.NIGHTLY_ALL]
    buckets = dict(celery_tasks.cumulative_buckets(row))
    assert buckets["0.005"] == 1
    assert buckets["0.1"] == 1
    assert buckets["0.25"] == 3
    assert buckets["30"] == 3
    assert buckets["60"] == 4
    assert buckets["1800"] == 4
    assert buckets["+Inf"] == 5 == row["duration_count"]
    counts = [count for _, count in celery_tasks.cumulative_buckets(row)]
    assert counts == sorted(counts)
    celery_tasks.reset_local()
