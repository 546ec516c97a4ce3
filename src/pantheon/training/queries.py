"""Read-only answers for the API, the dashboard and metrics (no training, no locks).

Every value is JSON-safe: datetimes as ISO-8601 UTC strings, NaN as None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pantheon.errors import NotFoundError
from pantheon.roster import is_shadow, shadow_of
from pantheon.store import checkpoints as checkpoint_rows
from pantheon.store import kernels as kernel_rows
from pantheon.store import outcome_stats
from pantheon.store.kernels import KernelRecord, TrendPoint
from pantheon.store.schedule_runs import ScheduleRuns
from pantheon.training._kernels import finite, is_stale

if TYPE_CHECKING:
    from pantheon.training.service import TrainingService

TREND_POINTS = 20


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: _iso(v) if not isinstance(v, float) else finite(v)
        for k, v in row.items()
        if not isinstance(v, bytes | memoryview)
    }


def _kernel_item(
    record: KernelRecord | None,
    name: str,
    trend: Sequence[TrendPoint],
    checkpoints: int,
) -> dict[str, Any]:
    shadow = is_shadow(name)
    last = trend[-1]["at"] if trend else None
    return {
        "god_name": name,
        "kind": "shadow" if shadow else "god",
        "outcomes_trained": record.outcomes_trained if record else 0,
        "step_count": record.step_count if record else 0,
        "version": record.version if record else 0,
        "retired": record.retired if record else False,
        "running_loss": finite((record.metrics if record else {}).get("running_loss")),
        "running_reward": finite((record.metrics if record else {}).get("running_reward")),
        "loss_trend": [finite(p["loss"]) for p in trend],
        "reward_trend": [finite(p["reward"]) for p in trend],
        "last_trained": _iso(last),
        "updated_at": _iso(record.updated_at) if record else None,
        "checkpoints": checkpoints,
        "shadow": None if shadow else shadow_of(name),
        "exists": record is not None,
        "coordizer_version": record.coordizer_version if record else None,
        "stale": record is not None and is_stale(record),
    }


def list_kernels(service: TrainingService) -> list[dict[str, Any]]:
    """Every roster kernel (god then its shadow) plus any other stored kernel."""
    with service.database.session(write=False) as session:
        records = {r.name: r for r in kernel_rows.list_all(session)}
        trends = kernel_rows.trends(session, TREND_POINTS)
        counts = checkpoint_rows.counts_by_kernel(session)
    names = list(service.roster.kernel_names)
    names += sorted(n for n in records if n not in set(names))
    return [_kernel_item(records.get(n), n, trends.get(n, []), counts.get(n, 0)) for n in names]


def get_kernel_info(service: TrainingService, name: str) -> dict[str, Any]:
    kname = service.kernel_name(name)
    for item in list_kernels(service):
        if item["god_name"] == kname:
            return item
    raise NotFoundError(f"no kernel {name!r}", kernel=name)  # pragma: no cover


def list_checkpoints(service: TrainingService, god_name: str | None = None) -> list[dict[str, Any]]:
    """Newest first; ``god_name`` selects a god's and its shadow's checkpoints."""
    return [_jsonable(r) for r in service.checkpoints.list_checkpoints(god_name)]


def training_history(
    service: TrainingService,
    kernel_name: str | None = None,
    timescale: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """History rows oldest first (the newest ``limit``), for learning-curve plots.

    ``details.outcome_ids`` (the audit's id lists) stay in the store: plots need only
    ``outcome_count``, and 500 rows of id lists would dwarf the rest of the answer.
    """
    name = service.kernel_name(kernel_name) if kernel_name else None
    with service.database.session(write=False) as session:
        rows = kernel_rows.history(session, kernel_name=name, timescale=timescale, limit=limit)
    for row in rows:
        details = row.get("details")
        if isinstance(details, dict) and "outcome_ids" in details:
            row["details"] = {k: v for k, v in details.items() if k != "outcome_ids"}
    return [_jsonable(r) for r in rows]


def recent_prompts(service: TrainingService, limit: int = 8) -> list[str]:
    """The ``limit`` most recent distinct prompts of stored outcomes, newest first (for
    the routing view); quarantined outcomes are left out."""
    if limit <= 0:
        return []
    with service.database.session(write=False) as session:
        return outcome_stats.recent_prompts(session, limit)


def list_transfers(service: TrainingService, limit: int = 100) -> list[dict[str, Any]]:
    with service.database.session(write=False) as session:
        return [_jsonable(r) for r in kernel_rows.transfers(session, limit)]


def counts(service: TrainingService) -> dict[str, Any]:
    """Figures for ``/metrics``: outcomes accepted and trained per timescale, kernel steps."""
    with service.database.session(write=False) as session:
        figures: dict[str, Any] = outcome_stats.counts(session)
        records = kernel_rows.list_all(session)
    figures["kernel_step_counts"] = {r.name: r.step_count for r in records}
    figures["kernel_versions"] = {r.name: r.version for r in records}
    return figures


def schedule_runs(
    service: TrainingService, job: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    return [_jsonable(r) for r in ScheduleRuns(service.database).recent(job, limit)]
