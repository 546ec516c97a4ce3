"""The reliability report: its table rows and the exact closing line."""

from __future__ import annotations

import re

import pytest
from benchmarks.reliability import render, summary_line, table
from benchmarks.scenarios import RunResult

pytestmark = pytest.mark.unit


def run(scenario: str, **values: object) -> RunResult:
    result = RunResult(scenario, f"title {scenario}")
    for key, value in values.items():
        setattr(result, key, value)
    return result


def test_closing_line_counts_scenarios_runs_and_problems() -> None:
    results = [
        run("1a", sent=10, accepted=10, trained_once=10, recovery_s=1.5),
        run("1a", sent=10, accepted=10, trained_once=9, lost=1),
        run("1b", duplicated=2),
        run("2", failures=["health answered 500"]),
    ]
    line = summary_line(results)
    assert line == "reliability: 2 scenarios, 4 runs, lost=1, duplicated=2, failed=3"
    assert re.fullmatch(
        r"reliability: \d+ scenarios, \d+ runs, lost=\d+, duplicated=\d+, failed=\d+", line
    )


def test_table_groups_repetitions_and_keeps_the_worst_recovery() -> None:
    rows = table(
        [
            run("1a", sent=5, accepted=5, trained_once=5, recovery_s=1.0, redelivery_s=0.5),
            run("1a", sent=5, accepted=4, trained_once=4, recovery_s=3.0, lost=1),
            run("10", sent=1, accepted=1, trained_once=1),
            run("4", sent=3, accepted=3, trained_once=3, unit="slots"),
        ]
    )
    assert [r[0].split()[0] for r in rows] == ["1a", "4", "10"]
    first = rows[0]
    assert first[1:] == ("2", "10", "9", "9", "1", "0", "3.0", "0.5", "1")
    assert rows[1][2] == "3 slots"
    text = render(rows)
    assert text.splitlines()[0].startswith("scenario")
    assert len(text.splitlines()) == 2 + len(rows)


def test_a_run_is_ok_only_without_loss_duplicates_or_failures() -> None:
    assert run("1a").ok
    assert not run("1a", lost=1).ok
    assert not run("1a", duplicated=1).ok
    assert not run("1a", failures=["x"]).ok
