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
