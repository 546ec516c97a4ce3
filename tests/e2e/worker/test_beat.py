"""Real Beat processes: a shortened schedule fires, two Beats give one run per slot, and the
standby takes over when the leader dies."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import pytest

from pantheon.testing import Proc, wait_until
from pantheon.worker.dispatch import Dispatcher
from tests.e2e.worker.conftest import Cluster

pytestmark = pytest.mark.e2e

SENT = re.compile(r"beat: sending training\.tasks\.train_hourly_batch_all for slot (\S+)")
FAST_SCHEDULE = {
    "PANTHEON_SCHEDULE_HOURLY": "every:2",
    "PANTHEON_SCHEDULE_OUTBOX": "every:3600",
}


def _sent_slots(*beats: Proc) -> list[str]:
    return [slot for beat in beats for slot in SENT.findall(beat.log_text())]


def _hourly_runs(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.service.slot_ledger.runs("hourly_batch")


def _assert_one_run_per_slot(cluster: Cluster, *beats: Proc) -> None:
    sent = Counter(_sent_slots(*beats))
    assert sent, "Beat sent nothing"
    assert max(sent.values()) == 1, sent  # no slot was ever sent twice
    runs = _hourly_runs(cluster)
    assert len({r["slot"] for r in runs}) == len(runs)
    # Each claimed slot ran the job at most once (a run may still be finishing).
    done = [r for r in runs if r["status"] == "success"]
    assert len(done) <= len(cluster.service.calls("train_hourly_batch_all")) <= len(runs)


def test_shortened_schedule_fires_and_lands_in_schedule_runs(
    make_cluster: Any, broker_url: str
) -> None:
    cluster: Cluster = make_cluster(broker=broker_url, **FAST_SCHEDULE)
    cluster.worker()
    beat = cluster.beat()
    beat.wait_for_log("beat: Acquired lock", timeout=30)
    wait_until(lambda: len(_hourly_runs(cluster)) >= 3, timeout=30)
    runs = _hourly_runs(cluster)
    assert all(r["result"]["covered_slots"] for r in runs if r["status"] == "success")
    for run in runs:
        assert int(run["slot"][17:19]) % 2 == 0  # every:2 slots fall on even seconds
    dispatcher = Dispatcher(cluster.settings(), cluster.service, app=cluster.app())
    assert dispatcher.beat_alive() is True
    _assert_one_run_per_slot(cluster, beat)

    # Beat down across several slots: the next Beat runs once, covering the missed ones.
    beat.stop()
    wait_until(lambda: all(r["status"] != "running" for r in _hourly_runs(cluster)))
    done = len(_hourly_runs(cluster))
    time.sleep(7)
    assert len(_hourly_runs(cluster)) == done
    again = cluster.beat(name="beat2")
    wait_until(lambda: len(_hourly_runs(cluster)) > done, timeout=30)
    wait_until(lambda: _hourly_runs(cluster)[done]["status"] == "success")
    catch_up = _hourly_runs(cluster)[done]
    assert len(catch_up["result"]["covered_slots"]) >= 3, catch_up
    _assert_one_run_per_slot(cluster, beat, again)


def test_two_beats_one_run_per_slot_and_standby_takes_over(
    make_cluster: Any, redis_url: str
) -> None:
    cluster: Cluster = make_cluster(**FAST_SCHEDULE)
    cluster.worker()
    first, second = cluster.beat(name="beat1"), cluster.beat(name="beat2")
    wait_until(lambda: "Acquired lock" in first.log_text() + second.log_text(), timeout=30)
    wait_until(lambda: len(_hourly_runs(cluster)) >= 5, timeout=40)
    leaders = [b for b in (first, second) if "Acquired lock" in b.log_text()]
    assert len(leaders) == 1, "both Beats hold the lock"
    leader = leaders[0]
    standby = second if leader is first else first
    assert _sent_slots(standby) == []
    _assert_one_run_per_slot(cluster, first, second)

    killed_at = time.monotonic()
    leader.kill()
    takeover = standby.wait_for_log("beat: Acquired lock", timeout=30)
    lock_timeout = cluster.settings().beat_lock_timeout
    assert takeover <= lock_timeout + 10, f"standby took {takeover:.1f}s"
    before = len(_hourly_runs(cluster))
    wait_until(lambda: len(_hourly_runs(cluster)) >= before + 3, timeout=30)
    assert _sent_slots(standby)
    _assert_one_run_per_slot(cluster, first, second)
    print(
        f"beat takeover after SIGKILL: {takeover:.1f}s, runs resumed after "
        f"{time.monotonic() - killed_at:.1f}s "
        f"(lock timeout {lock_timeout:.0f}s)"
    )
