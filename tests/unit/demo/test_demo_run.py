"""The demo on a small slice of the bundled sample: every job runs, the report holds it."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pantheon.bench.routing import TFIDF_LR
from pantheon.config import Settings
from pantheon.datasets.jsonl import iter_lines, write_lines
from pantheon.demo.report import render, simulated_times, write_report
from pantheon.demo.run import HOURS, SAMPLE_FILE, Demo, DemoResult, clock_start
from pantheon.training import queries

pytestmark = pytest.mark.unit


Steps = list[tuple[str, int, int]]


@pytest.fixture(scope="module")
def small_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[DemoResult, Steps, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("demo")
    records = [line.record for line in iter_lines(SAMPLE_FILE) if line.record is not None]
    sample = root / "small.jsonl"
    write_lines(records[:600], sample)  # rows come in (weak, strong) pairs per prompt
    steps: Steps = []
    demo = Demo(Settings(), root / "data", lambda s, d, t: steps.append((s, d, t)))
    try:
        result = demo.run(sample)
        runs = queries.schedule_runs(demo.service, limit=200)
    finally:
        demo.close()
    return result, steps, runs


@pytest.fixture(scope="module")
def small_result(small_run: tuple[DemoResult, Steps, list[dict[str, Any]]]) -> DemoResult:
    return small_run[0]


def test_every_job_runs(small_result: DemoResult) -> None:
    jobs = Counter(s.name.split(" ", 1)[1].split(" (")[0] for s in small_result.steps)
    assert jobs["online"] == HOURS
    assert jobs["hourly_batch"] == HOURS + 1  # 00:00 ... 04:00
    assert jobs["nightly_consolidation"] == 1  # 03:00
    assert jobs["shadow_sync"] == 2  # 00:00 and 04:00
    assert jobs["checkpoint_cleanup"] == 1  # 04:00
    assert jobs["knowledge transfer"] == 1
    assert sum(n.startswith("checkpoint ") for n in jobs.elements()) == 4
    failed = [s for s in small_result.steps if s.summary in ("error", "skipped", "?")]
    assert not failed
    assert small_result.transfer["status"] == "success"
    assert small_result.checkpoints >= 4


def test_scheduled_jobs_ran_once_per_slot(
    small_run: tuple[DemoResult, Steps, list[dict[str, Any]]],
) -> None:
    runs = [r for r in small_run[2] if r["job"] != "outbox_sweep"]
    assert all(r["status"] == "success" for r in runs)
    slots = Counter((r["job"], r["slot"]) for r in runs)
    assert set(slots.values()) == {1}
    assert Counter(job for job, _ in slots)["hourly_batch"] == HOURS + 1


def test_progress_reaches_the_end_of_every_step(
    small_run: tuple[DemoResult, Steps, list[dict[str, Any]]],
) -> None:
    seen: dict[str, tuple[int, int]] = {}
    for step, done, total in small_run[1]:
        seen[step] = (done, total)
    assert all(done == total for done, total in seen.values())
    assert any("online" in step and total > 0 for step, (_, total) in seen.items())


def test_figures_describe_the_held_out_prompts(small_result: DemoResult) -> None:
    assert small_result.train_outcomes + small_result.heldout_outcomes == 600
    assert len(small_result.gods) == 2
    for god in small_result.gods:
        assert god.outcomes > 0
        assert god.steps > 0
        assert god.shadow_steps > 0
        assert 0.0 <= god.accuracy <= 1.0
        assert god.heldout > 0
    assert small_result.strong == "gpt-4-1106-preview"  # the better training success rate
    assert len(small_result.curve) == HOURS
    assert small_result.curve[-1].outcomes == small_result.train_outcomes
    routing = small_result.routing
    assert routing.figures("random").apgr == pytest.approx(0.5)
    assert routing.figures("oracle").apgr >= routing.figures("pantheon").apgr
    # the same-run simple baseline, fitted on the replayed outcomes only, is in the table
    # and scores prompts (a constant score would sit at exactly 0.5); its quality is
    # tested on more prompts in test_routing_eval and test_bench_baselines
    assert [r.router for r in routing.routers] == ["pantheon", TFIDF_LR, "random", "oracle"]
    assert routing.figures(TFIDF_LR).apgr > 0.5


def test_report_is_self_contained_and_shows_the_figures(
    small_result: DemoResult, tmp_path: Path
) -> None:
    page = render(small_result)
    # Four plots of the replay, one of the live-traffic section.
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)) == 5
    assert "http://" not in page
    assert "https://" not in page
    pantheon = small_result.routing.figures("pantheon")
    assert f"<td>{pantheon.apgr:.3f}</td>" in page
    for god in small_result.gods:
        assert f"<td>{god.accuracy:.3f}</td>" in page
    written = write_report(small_result, tmp_path / "r" / "report.html").read_text("utf-8")
    assert written.startswith("<!doctype html>")
    assert written.count("data:image/png;base64,") == 5


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 30, 8, 30, tzinfo=UTC),
        datetime(2026, 11, 30, 4, 29, tzinfo=UTC),
        datetime(2026, 11, 30, 4, 30, tzinfo=UTC),
        datetime(2026, 11, 30, 23, 59, tzinfo=UTC),
        datetime(2026, 12, 1, 0, 5, tzinfo=UTC),
    ],
)
def test_the_simulated_night_ends_before_the_real_clock(now: datetime) -> None:
    """Every slot the demo records lies in the past, so a later ``pantheon up`` trusts none
    that is still to come; and it is the most recent such night."""
    start = clock_start(now)
    assert (start.hour, start.minute) == (23, 30)
    end = start + timedelta(hours=HOURS + 1)
    assert end <= now
    assert end + timedelta(days=1) > now


def test_the_runs_records_lie_in_the_past(
    small_run: tuple[DemoResult, Steps, list[dict[str, Any]]],
) -> None:
    now = datetime.now(UTC)
    slots = [datetime.fromisoformat(str(r["slot"])) for r in small_run[2]]
    assert slots
    assert max(slots) <= now


def test_plots_use_the_simulated_clock(small_result: DemoResult) -> None:
    times = simulated_times(small_result)
    first, last = small_result.steps[0].start, small_result.steps[-1].end
    assert (first.hour, first.minute) == (23, 30)
    assert len(times) == len(small_result.history)
    assert all(first <= at <= last for at in times.values())
    # Spread over the simulated night, not packed into the run's few wall-clock seconds.
    assert (max(times.values()) - min(times.values())) >= timedelta(hours=HOURS)
    hours = [(p.at - first) for p in small_result.curve]
    assert hours == [timedelta(hours=h) for h in range(1, HOURS + 1)]


def test_the_live_traffic_section(small_result: DemoResult) -> None:
    page = render(small_result)
    assert small_result.live is not None
    assert "Learning from its own decisions" in page
    assert f"held-out APGR at the end {small_result.live.apgr:.3f}" in page
    assert small_result.live.curve[-1][0] > 0
