"""Scenarios 5 and 6: soft limits, endless failure, malformed and duplicate messages."""

from __future__ import annotations

import pytest
from benchmarks.scenarios.broker import scenario_duplicates, scenario_poison

from pantheon.testing import Stack
from tests.reliability.conftest import assert_clean

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]


def test_soft_limit_retries_and_poison_messages(stack: Stack) -> None:
    results = scenario_poison(stack)
    assert [r.scenario for r in results] == ["5a", "5b", "5c"]
    assert_clean(results)
    assert results[1].extra["executions"] == 4  # 1 + max_retries, then it stops


def test_duplicate_deliveries_are_no_ops(stack: Stack) -> None:
    results = scenario_duplicates(stack, visibility=False)
    assert_clean(results)
    assert results[0].extra["duplicate_task_results"]["success:duplicate"] == 20


@pytest.mark.slow
def test_broker_redelivery_after_a_worker_died_post_commit_is_a_no_op(stack: Stack) -> None:
    results = [r for r in scenario_duplicates(stack, visibility=True) if r.scenario == "6c"]
    assert_clean(results)
    assert results[0].redelivery_s is not None
