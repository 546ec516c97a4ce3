"""The demo on a small slice of the bundled sample: every job runs, the report holds it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pantheon.config import Settings
from pantheon.demo.report import render, write_report
from pantheon.demo.run import HOURS, SAMPLE_FILE, Demo, DemoResult
from pantheon.imports.jsonl import iter_lines, write_lines

pytestmark = pytest.mark.unit


Steps = list[tuple[str, int, int]]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, Steps]:
    root = tmp_path_factory.mktemp("demo")
    records = [line.record for line in iter_lines(SAMPLE_FILE) if line.record is not None]
    sample = root / "small.jsonl"
    write_lines(records[:600], sample)  # rows come in (weak, strong) pairs per prompt
    steps: Steps = []
    demo = Demo(Settings(), root / "data", lambda s, d, t: steps.append((s, d, t)))
    try:
        result = demo.run(sample)
    finally:
        demo.close()
    return result, steps


@pytest.fixture(scope="module")
def small_result(small_run: tuple[DemoResult, Steps]) -> DemoResult:
    return small_run[0]


def test_every_job_runs_once(small_result: DemoResult) -> None:
    names = [s.name for s in small_result.steps]
    for expected in (
        "hour 1: online",
        f"hour {HOURS}: hourly batch",
        "nightly consolidation",
        "shadow sync",
        "knowledge transfer",
        "checkpoint cleanup",
    ):
        assert expected in names
    assert sum(n.startswith("checkpoint ") and n != "checkpoint cleanup" for n in names) == 4
    failed = [s for s in small_result.steps if s.summary in ("error", "?")]
    assert not failed
    assert small_result.transfer["status"] == "success"
    assert small_result.checkpoints >= 4


def test_progress_reaches_the_end_of_every_step(small_run: tuple[DemoResult, Steps]) -> None:
    seen: dict[str, tuple[int, int]] = {}
    for step, done, total in small_run[1]:
        seen[step] = (done, total)
    assert all(done == total for done, total in seen.values())
    assert seen["hour 1: online"][1] > 0


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


def test_report_is_self_contained_and_shows_the_figures(
    small_result: DemoResult, tmp_path: Path
) -> None:
    page = render(small_result)
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)) == 4
    assert "http://" not in page
    assert "https://" not in page
    pantheon = small_result.routing.figures("pantheon")
    assert f"<td>{pantheon.apgr:.3f}</td>" in page
    for god in small_result.gods:
        assert f"<td>{god.accuracy:.3f}</td>" in page
    written = write_report(small_result, tmp_path / "r" / "report.html").read_text("utf-8")
    assert written.startswith("<!doctype html>")
    assert written.count("data:image/png;base64,") == 4
