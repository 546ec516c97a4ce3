"""The fault scenarios of the reliability suite, each driving real processes and counting.

Every scenario function takes a :class:`~pantheon.testing.Stack` (private Redis and
PostgreSQL) and returns one :class:`RunResult` per sub-case it ran. ``SCENARIOS`` maps the
table's scenario ids to them; ``benchmarks.reliability`` repeats them and prints the table,
``tests/reliability`` runs one repetition of the fast ones.
"""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.scenarios.base import RunResult
from benchmarks.scenarios.beat import scenario_beat
from benchmarks.scenarios.broker import scenario_duplicates, scenario_poison
from benchmarks.scenarios.broker_loss import scenario_broker_loss
from benchmarks.scenarios.inputs import scenario_inputs, scenario_security
from benchmarks.scenarios.kills import scenario_kills
from benchmarks.scenarios.memory import scenario_memory
from benchmarks.scenarios.outages import scenario_postgres, scenario_redis
from pantheon.testing import Stack

#: What every scenario function looks like: (stack, repetition index) -> its runs.
Scenario = Callable[[Stack, int], list[RunResult]]

#: scenario number -> (title, function, default repetitions)
SCENARIOS: dict[str, tuple[str, Scenario, int]] = {
    "1": ("worker kills (child online/hourly, SIGKILL, SIGTERM)", scenario_kills, 20),
    "2": ("Redis restart under load", scenario_redis, 5),
    "3": ("PostgreSQL restart under load", scenario_postgres, 5),
    "4": ("two Beats, failover, catch-up", scenario_beat, 5),
    "5": ("soft time limit, retries, poison messages", scenario_poison, 3),
    "6": ("duplicate deliveries", scenario_duplicates, 3),
    "7": ("worker memory over 100k outcomes", scenario_memory, 1),
    "8": ("bad input: schemathesis, properties, body caps", scenario_inputs, 1),
    "9": ("security checks", scenario_security, 1),
    "10": ("Redis lost at every point of a task's life", scenario_broker_loss, 5),
}

__all__ = ["SCENARIOS", "RunResult", "Scenario"]
