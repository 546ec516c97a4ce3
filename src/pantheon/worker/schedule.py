"""The schedule, in one place: which job runs when, why, and how far it catches up.

Every job has *slots*: the UTC instants it is due at. A 5-field crontab (UTC) gives the
crontab's instants; ``every:N`` gives the multiples of N seconds since the epoch. A job
runs once per slot (``schedule_runs`` is unique on job+slot), and a run after downtime
covers the slots missed since the last success, up to the job's catch-up cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery.schedules import crontab, schedule
from croniter import croniter

from pantheon.config import Settings
from pantheon.errors import ScheduleError
from pantheon.worker import queues

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICK = timedelta(microseconds=1)
#: Counting missed slots stops here; an outage longer than this is reported as this many.
MISSED_COUNT_LIMIT = 1000


@dataclass(frozen=True)
class Job:
    """One scheduled job: its ``schedule_runs`` name, task, setting, cap, and reason."""

    name: str
    task: str
    setting: str
    catch_up_cap: int
    claims_slot: bool
    why: str


JOBS: tuple[Job, ...] = (
    Job(
        "hourly_batch",
        queues.HOURLY_BATCH_ALL,
        "schedule_hourly",
        24,
        True,
        "trains every god on the outcomes that arrived since the last batch (seed: :00)",
    ),
    Job(
        "nightly_consolidation",
        queues.NIGHTLY_ALL,
        "schedule_nightly",
        3,
        True,
        "curriculum + the day's best outcomes, at 03:00 UTC when traffic is lowest (legacy)",
    ),
    Job(
        "shadow_sync",
        queues.SYNC_SHADOWS,
        "schedule_shadow_sync",
        6,
        True,
        "keeps each god's shadow kernel close to its god, every 4 h (legacy)",
    ),
    Job(
        "checkpoint_cleanup",
        queues.CLEANUP_CHECKPOINTS,
        "schedule_cleanup",
        1,
        True,
        "retention at 04:00 UTC, an hour after the nightly checkpoints are written (legacy)",
    ),
    Job(
        "outbox_sweep",
        queues.SWEEP_OUTBOX,
        "schedule_outbox",
        1,
        False,
        "re-dispatches outcomes left untrained (broker down, message lost); idempotent and "
        "frequent, so it is not logged per slot",
    ),
)
JOBS_BY_NAME: dict[str, Job] = {job.name: job for job in JOBS}
JOBS_BY_TASK: dict[str, Job] = {job.task: job for job in JOBS}


class Expression:
    """A parsed schedule: a 5-field UTC crontab or ``every:N`` seconds."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.every: int | None = None
        if self.text.startswith("every:"):
            raw = self.text[len("every:") :].strip()
            if not raw.isdigit() or int(raw) < 1:
                raise ScheduleError(
                    f"bad schedule {text!r}: 'every:N' needs a whole number of seconds >= 1",
                    expression=text,
                )
            self.every = int(raw)
            return
        if len(self.text.split()) != 5 or not croniter.is_valid(self.text):
            raise ScheduleError(
                f"bad schedule {text!r}: expected a 5-field UTC crontab "
                "('minute hour day month weekday') or 'every:N' seconds",
                expression=text,
            )
        try:  # Beat must accept it too, not only croniter
            self.celery_schedule()
        except Exception as exc:
            raise ScheduleError(f"bad schedule {text!r}: {exc}", expression=text) from exc

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def slot_at(self, now: datetime) -> datetime:
        """The latest slot at or before ``now``."""
        now = _utc(now)
        if self.every is not None:
            seconds = int((now - _EPOCH).total_seconds()) // self.every * self.every
            return _EPOCH + timedelta(seconds=seconds)
        prev: datetime = croniter(self.text, now + _TICK).get_prev(datetime)
        return _utc(prev)

    def next_after(self, moment: datetime) -> datetime:
        """The earliest slot strictly after ``moment``."""
        moment = _utc(moment)
        if self.every is not None:
            return self.slot_at(moment) + timedelta(seconds=self.every)
        nxt: datetime = croniter(self.text, moment).get_next(datetime)
        return _utc(nxt)

    def previous(self, slot: datetime) -> datetime:
        """The slot just before ``slot``."""
        slot = _utc(slot)
        if self.every is not None:
            return self.slot_at(slot - _TICK)
        prev: datetime = croniter(self.text, slot).get_prev(datetime)
        return _utc(prev)

    def covered(self, slot: datetime, last_success: datetime | None, cap: int) -> list[datetime]:
        """Slots a run for ``slot`` covers: those after ``last_success``, newest ``cap``."""
        slot = _utc(slot)
        out = [slot]
        if last_success is None:
            return out
        last = _utc(last_success)
        cursor = slot
        while len(out) < cap:
            cursor = self.previous(cursor)
            if cursor <= last:
                break
            out.append(cursor)
        return sorted(out)

    def count_between(self, after: datetime, upto: datetime) -> int:
        """How many slots fall in (after, upto], counting at most :data:`MISSED_COUNT_LIMIT`."""
        after, upto = _utc(after), _utc(upto)
        if self.every is not None:
            first = self.slot_at(after)
            span = int((self.slot_at(upto) - first).total_seconds()) // self.every
            return max(0, min(span, MISSED_COUNT_LIMIT))
        count, cursor = 0, after
        while count < MISSED_COUNT_LIMIT:
            cursor = self.next_after(cursor)
            if cursor > upto:
                break
            count += 1
        return count

    def celery_schedule(self) -> Any:
        """The Beat schedule object (``crontab`` in UTC, or a plain interval)."""
        if self.every is not None:
            return schedule(run_every=timedelta(seconds=self.every))
        minute, hour, day_of_month, month_of_year, day_of_week = self.text.split()
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
        )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def expression_for(job: Job, settings: Settings) -> Expression:
    return Expression(str(getattr(settings, job.setting)))


def expressions(settings: Settings) -> dict[str, Expression]:
    """Every job's parsed expression; the first bad one raises :class:`ScheduleError`."""
    return {job.name: expression_for(job, settings) for job in JOBS}


def parse_slot(value: str | datetime) -> datetime:
    """A slot from a message (ISO 8601 text) as an aware UTC datetime."""
    if isinstance(value, datetime):
        return _utc(value)
    try:
        return _utc(datetime.fromisoformat(value))
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"bad slot {value!r}: expected ISO 8601 UTC") from exc


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's ``beat_schedule``: one entry per job, named after the job."""
    out: dict[str, dict[str, Any]] = {}
    for job in JOBS:
        out[job.name] = {
            "task": job.task,
            "schedule": expression_for(job, settings).celery_schedule(),
            "options": {"queue": queues.queue_for(job.task)},
        }
    return out


def describe(
    settings: Settings,
    last_success: Mapping[str, datetime | None],
    now: datetime,
    last_run: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """What ``GET /api/schedule`` shows: schedule, why, last and next run, missed slots."""
    rows: list[dict[str, Any]] = []
    for job in JOBS:
        expr = expression_for(job, settings)
        last = last_success.get(job.name)
        current = expr.slot_at(now)
        missed = 0 if last is None else expr.count_between(last, expr.previous(current))
        rows.append(
            {
                "job": job.name,
                "task": job.task,
                "queue": queues.queue_for(job.task),
                "schedule": expr.text,
                "why": job.why,
                "catch_up_cap": job.catch_up_cap,
                "last_success": last.isoformat() if last else None,
                "last_run": dict(last_run.get(job.name) or {}) if last_run else None,
                "current_slot": current.isoformat(),
                "next_run": expr.next_after(now).isoformat(),
                "missed_slots": missed,
            }
        )
    return rows
