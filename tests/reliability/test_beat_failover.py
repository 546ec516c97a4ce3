"""Scenario 4: two Beats over many slots, leader killed, Beat down across slots."""

from __future__ import annotations

import pytest
from benchmarks.scenarios.beat import scenario_beat

from pantheon.testing import Stack
from tests.reliability.conftest import assert_clean

pytestmark = [pytest.mark.reliability, pytest.mark.e2e, pytest.mark.slow]


def test_one_run_per_slot_failover_and_catch_up(stack: Stack) -> None:
    results = scenario_beat(stack)
    assert_clean(results)
    assert results[0].extra["catch_up_covered"] >= 4
