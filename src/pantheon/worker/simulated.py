"""The real schedule on a simulated clock: the embedded scheduler, one tick per move.

Replays (the demo, ``bench online``) compress hours of traffic into seconds, so they fire
the scheduled jobs themselves: :class:`SimulatedSchedule` owns the clock, moves it, and
lets :class:`~pantheon.worker.embedded.EmbeddedScheduler` send every slot that came due
through the real dispatcher, waiting for each job to finish before the clock moves on.
Each slot still runs once (``schedule_runs``), exactly as under Beat.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pantheon.config import Settings
from pantheon.worker.embedded import EmbeddedScheduler
from pantheon.worker.schedule import JOBS

#: Runs one task to its end: (task name, keyword arguments) → its result.
RunTask = Callable[..., Any]


class _Waiting:
    """The dispatcher as the scheduler sees it, but every job runs to its end."""

    def __init__(self, run_task: RunTask) -> None:
        self.run_task = run_task

    def dispatch(self, task_name: str, *, wait: bool | None = None, **kwargs: Any) -> Any:
        return self.run_task(task_name, **kwargs)

    def beat_alive(self) -> bool:
        return False


class SimulatedSchedule:
    """A clock starting at ``start`` and the embedded scheduler on it (nothing due yet)."""

    def __init__(self, settings: Settings, run_task: RunTask, start: datetime) -> None:
        self.now = start
        self.scheduler = EmbeddedScheduler(
            settings, _Waiting(run_task), clock=lambda: self.now, beat_alive=lambda: False
        )
        for job in JOBS:
            self.scheduler.last_sent[job.name] = self.scheduler.expressions[job.name].slot_at(start)

    def advance(self, delta: timedelta) -> list[tuple[str, datetime]]:
        """Move the clock and fire every slot that came due; returns what was fired."""
        self.now += delta
        return self.scheduler.tick()
