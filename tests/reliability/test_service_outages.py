"""Scenarios 2 and 3: Redis and PostgreSQL restarted while outcomes arrive over HTTP."""

from __future__ import annotations

import pytest
from benchmarks.scenarios.outages import scenario_postgres, scenario_redis

from pantheon.testing import Stack
from tests.reliability.conftest import assert_clean

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]


def test_redis_restart_under_load(stack: Stack) -> None:
    results = scenario_redis(stack)
    assert [r.scenario for r in results] == ["2a", "2b"]
    assert_clean(results)
    for result in results:
        assert result.extra["answers"]["server_error"] == 0


@pytest.mark.slow
def test_postgres_restart_under_load(stack: Stack) -> None:
    results = scenario_postgres(stack)
    assert_clean(results)
    # While the database was down, health said so.
    assert set(results[0].extra["health_during_outage"]) == {503}
