"""What each task does, with no Celery in sight: argument checks, then one service call.

The Celery tasks (:mod:`pantheon.worker.tasks`) and the in-process path of the dispatcher
(:mod:`pantheon.worker.dispatch`) both call :func:`run_operation`, so a task behaves the
same in ``celery`` and ``sync`` mode.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pantheon.config import Settings
from pantheon.errors import ValidationError
from pantheon.worker import queues
from pantheon.worker.coalesce import god_of_outcome
from pantheon.worker.schedule import JOBS_BY_TASK, expression_for, parse_slot
from pantheon.worker.slots import SlotLedger, StoreLedger, run_in_slot

log = logging.getLogger(__name__)

#: The seed's own keyword arguments of ``train_from_outcome_task``.
SEED_OUTCOME_FIELDS = frozenset(
    {
        "god_name",
        "prompt",
        "response",
        "success",
        "phi",
        "kappa",
        "coherence_score",
        "basin_trajectory",
    }
)
#: Optional intake fields a seed-style call may add.
EXTRA_OUTCOME_FIELDS = frozenset(
    {"score", "outcome_key", "source_type", "source_id", "decision_id"}
)
#: The sweep dispatches at most this many outcomes per run; the next slot takes the rest.
SWEEP_BATCH = 1000


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Where an operation runs: its task id, settings, clock, ledger and re-dispatch hook."""

    settings: Settings
    task_id: str | None = None
    now: Callable[[], datetime] = _utcnow
    ledger: SlotLedger | None = None
    #: How the outbox sweep sends ``train_from_outcome_task`` (Celery or in-process).
    redispatch: Callable[[str, dict[str, Any]], Any] | None = None
    #: Deletes a god's pending-dispatch flag (celery mode, :mod:`pantheon.worker.coalesce`).
    clear_pending: Callable[[str], None] | None = None
    #: Queues one more online task for (god, outcome id) unless one is pending; returns
    #: its task id, or ``None`` when none was sent (celery mode only).
    follow_up: Callable[[str, int], str | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _check_args(task: str, kwargs: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValidationError(
            f"{task} got unexpected argument(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(allowed))}",
            task=task,
            unexpected=unknown,
        )


def _god(task: str, kwargs: Mapping[str, Any]) -> str:
    god = kwargs.get("god_name", kwargs.get("god"))
    if not isinstance(god, str) or not god.strip():
        raise ValidationError(f"{task} needs god_name (a god of the roster)", task=task)
    return god


def seed_outcome_key(task_id: str | None, payload: Mapping[str, Any]) -> str:
    """A key fixed by the message, so a redelivered seed-style task stores its outcome once."""
    canonical = json.dumps(
        {"task_id": task_id, "kwargs": payload}, sort_keys=True, separators=(",", ":"), default=str
    )
    return "task-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _ingest_one(service: Any, payload: dict[str, Any]) -> int:
    """Store one outcome through the intake (validation, dedup on ``outcome_key``)."""
    from pantheon.training.intake import OutcomeIn, ingest

    result = ingest(service, [OutcomeIn.parse(payload)])
    return int(result.outcome_ids[0])


def _store_seed_outcome(service: Any, kwargs: Mapping[str, Any], ctx: Context) -> int:
    payload = dict(kwargs)
    payload.setdefault("outcome_key", seed_outcome_key(ctx.task_id, kwargs))
    return _ingest_one(service, payload)


def _train_from_outcome(service: Any, kwargs: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    task = queues.TRAIN_FROM_OUTCOME
    _check_args(task, kwargs, {"outcome_id"} | SEED_OUTCOME_FIELDS | EXTRA_OUTCOME_FIELDS)
    if "outcome_id" in kwargs:
        if len(kwargs) > 1:
            raise ValidationError(f"{task}: pass outcome_id alone, or the seed's outcome fields")
        outcome_id = kwargs["outcome_id"]
        if isinstance(outcome_id, bool) or not isinstance(outcome_id, int):
            raise ValidationError(f"{task}: outcome_id must be an integer, got {outcome_id!r}")
    else:
        missing = sorted({"god_name", "prompt", "response", "success"} - set(kwargs))
        if missing:
            raise ValidationError(
                f"{task} needs outcome_id, or the seed's outcome fields (missing "
                f"{', '.join(missing)})"
            )
        outcome_id = _store_seed_outcome(service, kwargs, ctx)
    god = None
    if ctx.clear_pending is not None:
        god = god_of_outcome(service, outcome_id)
        # The flag goes BEFORE the claim: an outcome whose dispatch was skipped because of
        # this flag committed before that failed SET, hence before this delete, hence before
        # the claim below, which therefore sees it (see pantheon.worker.coalesce).
        if god is not None:
            ctx.clear_pending(god)
    result = dict(service.train_from_outcome(outcome_id))
    result.setdefault("outcome_id", outcome_id)
    if god is not None and result.get("status") == "duplicate":
        _train_skipped(service, god, result)
    backlog = result.get("next_outcome_id")
    if ctx.follow_up is not None and isinstance(backlog, int) and result.get("god_name"):
        # The drain ran out of time with this god's backlog left: queue the rest now
        # rather than leave it to the next outcome or the outbox sweep.
        result["follow_up_task_id"] = ctx.follow_up(str(result["god_name"]), backlog)
    return result


def _train_skipped(service: Any, god: str, result: dict[str, Any]) -> None:
    """Our own outcome was trained by another task, but outcomes whose dispatch was skipped
    for our flag may still be pending: train the god's oldest one (it drains the rest)."""
    # The service names the god's oldest pending outcome with a duplicate; the cross-god
    # list is the fallback for services that do not (it can miss under a large backlog).
    named = result.pop("next_outcome_id", None)
    pending = (
        [named]
        if isinstance(named, int)
        else [i for i, g in _pending_online(service, 0.0, SWEEP_BATCH) if g == god]
    )
    if pending:
        follow = dict(service.train_from_outcome(pending[0]))
        result["followed_by"] = {
            "outcome_id": pending[0],
            "status": follow.get("status"),
            "coalesced": follow.get("coalesced"),
        }


def _pending_online(service: Any, older_than: float, limit: int) -> list[tuple[int, str]]:
    """(outcome id, god) of outcomes still untrained online after ``older_than`` seconds."""
    own = getattr(service, "pending_online", None)
    if own is not None:  # a service may answer itself (test doubles do)
        return [(int(i), str(g)) for i, g in own(older_than, limit)]
    from pantheon.training.intake import pending_online

    return [(int(i), str(g)) for i, g in pending_online(service, older_than, limit)]


def _sweep_outbox(service: Any, ctx: Context) -> dict[str, Any]:
    """Re-dispatch online training for outcomes left untrained (one task per god: the
    online step drains that god's backlog)."""
    if ctx.redispatch is None:
        raise RuntimeError("the outbox sweep needs a dispatcher")
    pending = _pending_online(service, ctx.settings.outbox_sweep_after, SWEEP_BATCH)
    first_per_god: dict[str, int] = {}
    for outcome_id, god in pending:
        first_per_god.setdefault(god, outcome_id)
    for outcome_id in first_per_god.values():
        ctx.redispatch(queues.TRAIN_FROM_OUTCOME, {"outcome_id": outcome_id})
    if first_per_god:
        log.info(
            "outbox sweep: %d untrained outcome(s) of %d god(s) re-dispatched",
            len(pending),
            len(first_per_god),
        )
    return {"status": "success", "pending": len(pending), "redispatched": len(first_per_god)}


def _call(task: str, service: Any, kwargs: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """The service call behind ``task`` (``slot`` already removed)."""
    if task == queues.TRAIN_FROM_OUTCOME:
        return _train_from_outcome(service, kwargs, ctx)
    if task in (queues.HOURLY_BATCH, queues.NIGHTLY):
        _check_args(task, kwargs, {"god_name", "god"})
        god = _god(task, kwargs)
        if task == queues.HOURLY_BATCH:
            return dict(service.train_hourly_batch(god))
        return dict(service.train_nightly_consolidation(god))
    if task == queues.SAVE_CHECKPOINT:
        _check_args(task, kwargs, {"god_name", "god", "trigger"})
        return dict(
            service.save_checkpoint(_god(task, kwargs), trigger=kwargs.get("trigger", "manual"))
        )
    if task == queues.KNOWLEDGE_TRANSFER:
        allowed = {"transfer_type", "source_god", "target_god", "transfer_ratio", "extra_params"}
        _check_args(task, kwargs, allowed)
        missing = sorted({"transfer_type", "source_god", "target_god"} - set(kwargs))
        if missing:
            raise ValidationError(f"{task} needs {', '.join(missing)}", task=task)
        return dict(
            service.knowledge_transfer(
                kwargs["transfer_type"],
                kwargs["source_god"],
                kwargs["target_god"],
                transfer_ratio=kwargs.get("transfer_ratio", 0.5),
                extra_params=kwargs.get("extra_params"),
            )
        )
    _check_args(task, kwargs, set())
    if task == queues.HOURLY_BATCH_ALL:
        return dict(service.train_hourly_batch_all())
    if task == queues.NIGHTLY_ALL:
        return dict(service.train_nightly_consolidation_all())
    if task == queues.SYNC_SHADOWS:
        return dict(service.sync_all_shadows())
    if task == queues.CLEANUP_CHECKPOINTS:
        return dict(service.cleanup_old_checkpoints())
    if task == queues.SWEEP_OUTBOX:
        return _sweep_outbox(service, ctx)
    raise ValidationError(f"unknown task {task!r}; known: {', '.join(queues.TASK_QUEUES)}")


def ledger_for(service: Any) -> SlotLedger:
    """The service's own ledger if it has one, else ``schedule_runs`` in its database."""
    own = getattr(service, "slot_ledger", None)
    if own is not None:
        return own  # type: ignore[no-any-return]
    settings = service.settings
    stale_after = max(settings.task_time_limit, settings.slow_task_time_limit) + 60.0
    return StoreLedger(service.database, stale_after)


def run_operation(
    task: str, service: Any, kwargs: Mapping[str, Any], ctx: Context
) -> dict[str, Any]:
    """Run ``task`` with ``kwargs``; scheduled tasks given a ``slot`` run once per slot."""
    kwargs = dict(kwargs)
    slot_value = kwargs.pop("slot", None)
    job = JOBS_BY_TASK.get(task)
    if slot_value is None or job is None:
        if slot_value is not None:
            raise ValidationError(f"{task} is not a scheduled task; it takes no slot")
        return _call(task, service, kwargs, ctx)
    slot = parse_slot(slot_value)
    if not job.claims_slot:
        result = _call(task, service, kwargs, ctx)
        result.setdefault("slot", slot.isoformat())
        return result
    ledger = ctx.ledger if ctx.ledger is not None else ledger_for(service)
    return run_in_slot(
        job,
        expression_for(job, ctx.settings),
        slot,
        ledger,
        lambda: _call(task, service, kwargs, ctx),
        owner=ctx.task_id,
    )
