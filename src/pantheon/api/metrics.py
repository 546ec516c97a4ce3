"""``GET /metrics``: Prometheus text, read fresh from the store and the broker per scrape.

A custom collector (not process-local counters) so every web replica reports the same
totals: outcomes, training per timescale, kernel step counts and schedule lag come from the
database; queue depths from the broker; task counters from the workers' shared counters.
A section that fails is skipped and counted in ``pantheon_scrape_errors``; the scrape
itself never fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pantheon.api.deps import AppState, get_state
from pantheon.api.routes.operations import schedule_rows
from pantheon.clock import utcnow
from pantheon.training import queries
from pantheon.worker import celery_tasks

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

Section = Callable[[AppState], Iterator[Metric]]


def _counts(state: AppState) -> Iterator[Metric]:
    counts = queries.counts(state.service)
    accepted = CounterMetricFamily(
        "pantheon_outcomes_accepted", "Outcomes stored (durable, deduplicated by outcome_key)"
    )
    accepted.add_metric([], float(counts["outcomes"]))
    yield accepted
    trained = CounterMetricFamily(
        "pantheon_outcomes_trained", "Outcomes trained, per timescale", labels=["timescale"]
    )
    for timescale, key in (
        ("online", "trained_online"),
        ("batch", "batch_processed"),
        ("consolidation", "consolidated"),
    ):
        trained.add_metric([timescale], float(counts[key]))
    yield trained
    pending = GaugeMetricFamily(
        "pantheon_outcomes_pending_online", "Outcomes not yet trained online"
    )
    pending.add_metric([], float(counts["pending_online"]))
    yield pending
    quarantined = GaugeMetricFamily(
        "pantheon_outcomes_quarantined",
        "Stored outcomes that cannot be decoded, set aside instead of trained",
    )
    quarantined.add_metric([], float(counts.get("quarantined", 0)))
    yield quarantined


def _kernels(state: AppState) -> Iterator[Metric]:
    steps = CounterMetricFamily(
        "pantheon_kernel_steps", "Training steps taken by each kernel", labels=["kernel", "kind"]
    )
    trained = CounterMetricFamily(
        "pantheon_kernel_outcomes_trained", "Outcomes learned online", labels=["kernel"]
    )
    version = GaugeMetricFamily("pantheon_kernel_version", "Live state version", labels=["kernel"])
    loss = GaugeMetricFamily("pantheon_kernel_loss", "Running training loss", labels=["kernel"])
    for k in queries.list_kernels(state.service):
        name = str(k["god_name"])  # the kernel's name: god or <god>_shadow
        steps.add_metric([name, str(k["kind"])], float(k["step_count"]))
        trained.add_metric([name], float(k["outcomes_trained"]))
        version.add_metric([name], float(k["version"]))
        if k.get("running_loss") is not None:
            loss.add_metric([name], float(k["running_loss"]))
    yield from (steps, trained, version, loss)


def _schedule(state: AppState) -> Iterator[Metric]:
    now = utcnow()
    lag = GaugeMetricFamily(
        "pantheon_schedule_lag_seconds",
        "Seconds since the job's current slot when that slot has not run yet, else 0",
        labels=["job"],
    )
    missed = GaugeMetricFamily(
        "pantheon_schedule_missed_slots", "Slots missed since the last success", labels=["job"]
    )
    last = GaugeMetricFamily(
        "pantheon_schedule_last_success_timestamp_seconds",
        "Slot of the job's last successful run (Unix time)",
        labels=["job"],
    )
    for job in schedule_rows(state):
        name = str(job["job"])
        current = _as_datetime(job.get("current_slot"))
        done = _as_datetime(job.get("last_success"))
        behind = current is not None and (done is None or done < current)
        lag.add_metric([name], (now - current).total_seconds() if behind and current else 0.0)
        missed.add_metric([name], float(job.get("missed_slots") or 0))
        if done is not None:
            last.add_metric([name], done.timestamp())
    yield from (lag, missed, last)


def _queues(state: AppState) -> Iterator[Metric]:
    if state.settings.task_mode == "sync":
        return  # no broker in this deployment
    depths = state.probe("queues", state.queue_depths, timeout=2.0)
    gauge = GaugeMetricFamily("pantheon_queue_depth", "Messages waiting", labels=["queue"])
    for queue, depth in dict(depths or {}).items():
        if depth is not None:
            gauge.add_metric([str(queue)], float(depth))
    yield gauge


def _tasks(state: AppState) -> Iterator[Metric]:
    snapshot = celery_tasks.snapshot(state.settings)
    outcomes = CounterMetricFamily(
        "pantheon_task_results", "Task runs by result", labels=["task", "result"]
    )
    durations = HistogramMetricFamily(
        "pantheon_task_duration_seconds", "Run time of finished tasks", labels=["task"]
    )
    for task, row in sorted(snapshot.items()):
        for result in ("success", "failure", "retry", "duplicate"):
            outcomes.add_metric([task, result], float(row.get(result, 0)))
        durations.add_metric(
            [task],
            celery_tasks.cumulative_buckets(row),
            float(row.get("duration_sum", 0.0)),
        )
    yield from (outcomes, durations)


SECTIONS: dict[str, Section] = {
    "counts": _counts,
    "kernels": _kernels,
    "schedule": _schedule,
    "queues": _queues,
    "tasks": _tasks,
}


def _as_datetime(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


class PantheonCollector:
    """Collects every section at scrape time; a failing section is reported, not fatal."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        errors = CounterMetricFamily(
            "pantheon_scrape_errors", "Sections that failed in this scrape", labels=["section"]
        )
        up = GaugeMetricFamily("pantheon_database_up", "1 when the database answers")
        up.add_metric([], 1.0 if self._database_up() else 0.0)
        yield up
        for name, section in SECTIONS.items():
            try:
                metrics = list(section(self.state))
            except Exception as exc:  # one broken source must not hide the others
                log.warning("metrics section %s failed: %s", name, type(exc).__name__)
                errors.add_metric([name], 1.0)
                continue
            # 0 for a section that worked: a series that exists before the first failure
            # is one an alert (or a dashboard panel) can read.
            errors.add_metric([name], 0.0)
            yield from metrics
        yield errors

    def _database_up(self) -> bool:
        try:
            return bool(self.state.probe("database", self.state.database_up, 3.0))
        except Exception:  # a probe failure means "down" here
            return False


def registry_for(state: AppState) -> CollectorRegistry:
    """One registry per app, so several apps in one process never share metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PantheonCollector(state))
    return registry


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Prometheus text exposition (version 0.0.4)."""
    state = get_state(request)
    registry: CollectorRegistry | None = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = request.app.state.metrics_registry = registry_for(state)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
