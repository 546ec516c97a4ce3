"""Scenario 1: pool children and whole workers killed mid-task; trained exactly once."""

from __future__ import annotations

import pytest
from benchmarks.scenarios.kills import scenario_kills

from pantheon.testing import Stack
from tests.reliability.conftest import assert_clean

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]


def test_pool_child_killed_mid_online_step_and_mid_hourly_batch(stack: Stack) -> None:
    results = scenario_kills(stack, cases=("1a", "1b"))
    assert_clean(results)
    online = results[0]
    assert online.redelivery_s is not None  # the killed task came back (reject on lost)


@pytest.mark.slow
def test_whole_worker_sigkill_then_sigterm(stack: Stack) -> None:
    assert_clean(scenario_kills(stack, cases=("1c", "1d")))
