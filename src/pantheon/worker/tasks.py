"""The ten tasks as typed functions: each signature is the task's wire contract (its
keyword arguments), and each body is one call of a training-service use case.

:func:`run_task` is the one way a message becomes a call, the same for the Celery worker
(:mod:`pantheon.worker.celery_tasks`) and the in-process backend
(:mod:`pantheon.worker.dispatch`): legacy shapes are normalised
(:mod:`pantheon.worker.legacy`), the arguments are checked against the signature, and a
scheduled task given a ``slot`` runs once per slot (:mod:`pantheon.worker.slots`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol

from pantheon.config import Settings
from pantheon.errors import ValidationError
from pantheon.training.intake import IngestResult, OutcomeIn
from pantheon.training.online import BeforeClaim, FollowUp, OnlineResult
from pantheon.training.results import (
    AllGodsResult,
    CheckpointResult,
    CleanupResult,
    Disabled,
    HourlyResult,
    NightlyResult,
    ShadowSyncResult,
    TransferResult,
)
from pantheon.worker import legacy, queues
from pantheon.worker.schedule import JOBS_BY_TASK, expression_for, parse_slot
from pantheon.worker.slots import SlotLedger, run_in_slot

log = logging.getLogger(__name__)

#: A task's JSON result.
Result = dict[str, object]
#: Publishes a task by name with its keyword arguments (Celery, or the in-process backend).
Send = Callable[[str, dict[str, object]], object]
#: The outbox sweep dispatches at most this many outcomes per run; the next slot takes the rest.
SWEEP_BATCH = 1000


class Training(Protocol):
    """The training-service use cases the tasks call (:class:`TrainingService`)."""

    @property
    def slot_ledger(self) -> SlotLedger: ...

    def ingest(self, outcomes: list[OutcomeIn]) -> IngestResult: ...
    def pending_online(self, older_than: float, limit: int) -> list[tuple[int, str]]: ...
    def train_from_outcome(
        self,
        outcome_id: int,
        *,
        before_claim: BeforeClaim | None = None,
        follow_up: FollowUp | None = None,
    ) -> OnlineResult: ...
    def train_hourly_batch(self, god: str) -> HourlyResult | Disabled: ...
    def train_hourly_batch_all(self) -> AllGodsResult | Disabled: ...
    def train_nightly_consolidation(self, god: str) -> NightlyResult | Disabled: ...
    def train_nightly_consolidation_all(self) -> AllGodsResult | Disabled: ...
    def knowledge_transfer(
        self,
        transfer_type: str,
        source_god: str,
        target_god: str,
        transfer_ratio: float = 0.5,
        extra_params: dict[str, object] | None = None,
    ) -> TransferResult | Disabled: ...
    def sync_all_shadows(self) -> ShadowSyncResult | Disabled: ...
    def save_checkpoint(self, god: str, trigger: str = "manual") -> CheckpointResult | Disabled: ...
    def cleanup_old_checkpoints(self) -> CleanupResult | Disabled: ...


@dataclass(frozen=True)
class TaskEnv:
    """Where a task runs: the service, its task id, and the hooks of its backend."""

    training: Training
    settings: Settings
    task_id: str | None = None
    #: How the outbox sweep sends ``train_from_outcome_task``.
    send: Send | None = None
    #: Clears a god's pending-dispatch flag before its claim (celery mode).
    before_claim: BeforeClaim | None = None
    #: Queues one more online task for a god's backlog (celery mode).
    follow_up: FollowUp | None = None


# --- the ten tasks ---------------------------------------------------------------------
def train_from_outcome(env: TaskEnv, outcome_id: int, god_name: str | None = None) -> Result:
    """``training.tasks.train_from_outcome_task``: online training for one stored outcome
    (``god_name``, when the sender knows it, only labels the task's logs)."""
    if isinstance(outcome_id, bool) or not isinstance(outcome_id, int):
        raise ValidationError(
            f"{queues.TRAIN_FROM_OUTCOME}: outcome_id must be an integer, got {outcome_id!r}"
        )
    result = env.training.train_from_outcome(
        outcome_id, before_claim=env.before_claim, follow_up=env.follow_up
    )
    return result.as_dict()


def train_hourly_batch(env: TaskEnv, god_name: str) -> Result:
    return env.training.train_hourly_batch(_god(queues.HOURLY_BATCH, god_name)).as_dict()


def train_hourly_batch_all(env: TaskEnv) -> Result:
    return env.training.train_hourly_batch_all().as_dict()


def train_nightly_consolidation(env: TaskEnv, god_name: str) -> Result:
    return env.training.train_nightly_consolidation(_god(queues.NIGHTLY, god_name)).as_dict()


def train_nightly_consolidation_all(env: TaskEnv) -> Result:
    return env.training.train_nightly_consolidation_all().as_dict()


def knowledge_transfer(  # noqa: PLR0917 - the legacy task's five positional arguments
    env: TaskEnv,
    transfer_type: str,
    source_god: str,
    target_god: str,
    transfer_ratio: float = 0.5,
    extra_params: dict[str, object] | None = None,
) -> Result:
    return env.training.knowledge_transfer(
        transfer_type,
        source_god,
        target_god,
        transfer_ratio=transfer_ratio,
        extra_params=extra_params,
    ).as_dict()


def sync_all_shadows(env: TaskEnv) -> Result:
    return env.training.sync_all_shadows().as_dict()


def save_checkpoint(env: TaskEnv, god_name: str, trigger: str = "manual") -> Result:
    god = _god(queues.SAVE_CHECKPOINT, god_name)
    return env.training.save_checkpoint(god, trigger=trigger).as_dict()


def cleanup_old_checkpoints(env: TaskEnv) -> Result:
    return env.training.cleanup_old_checkpoints().as_dict()


def sweep_outbox(env: TaskEnv) -> Result:
    """Re-dispatch online training for outcomes left untrained (one task per god: the
    online step drains that god's backlog)."""
    if env.send is None:
        raise RuntimeError("the outbox sweep needs a backend to send with")
    pending = env.training.pending_online(env.settings.outbox_sweep_after, SWEEP_BATCH)
    first_per_god: dict[str, int] = {}
    for outcome_id, god in pending:
        first_per_god.setdefault(god, outcome_id)
    for god, outcome_id in first_per_god.items():
        env.send(queues.TRAIN_FROM_OUTCOME, {"outcome_id": outcome_id, "god_name": god})
    if first_per_god:
        log.info(
            "outbox sweep: %d untrained outcome(s) of %d god(s) re-dispatched",
            len(pending),
            len(first_per_god),
        )
    return {"status": "success", "pending": len(pending), "redispatched": len(first_per_god)}


TaskFn = Callable[..., Result]
TASKS: dict[str, TaskFn] = {
    queues.TRAIN_FROM_OUTCOME: train_from_outcome,
    queues.SAVE_CHECKPOINT: save_checkpoint,
    queues.CLEANUP_CHECKPOINTS: cleanup_old_checkpoints,
    queues.HOURLY_BATCH: train_hourly_batch,
    queues.HOURLY_BATCH_ALL: train_hourly_batch_all,
    queues.NIGHTLY: train_nightly_consolidation,
    queues.NIGHTLY_ALL: train_nightly_consolidation_all,
    queues.KNOWLEDGE_TRANSFER: knowledge_transfer,
    queues.SYNC_SHADOWS: sync_all_shadows,
    queues.SWEEP_OUTBOX: sweep_outbox,
}


# --- one message, one call -------------------------------------------------------------
def run_task(
    name: str, env: TaskEnv, kwargs: Mapping[str, object], args: tuple[object, ...] = ()
) -> Result:
    """Run task ``name`` for one message; scheduled tasks given a ``slot`` run once per slot."""
    fn = TASKS.get(name)
    if fn is None:
        raise ValidationError(f"unknown task {name!r}; known: {', '.join(queues.TASK_QUEUES)}")
    named = dict(kwargs)
    slot_value = named.pop("slot", None)
    if (
        args
        or not set(named) <= _parameters(fn)
        or (name == queues.TRAIN_FROM_OUTCOME and not named)
    ):
        named, outcome = legacy.normalize(name, args, named)
        if outcome is not None:
            named = _store_legacy_outcome(env, outcome)
    _check_arguments(name, fn, named)
    job = JOBS_BY_TASK.get(name)
    if slot_value is None:
        return fn(env, **named)
    if job is None:
        raise ValidationError(f"{name} is not a scheduled task; it takes no slot")
    slot = parse_slot(slot_value if isinstance(slot_value, datetime) else str(slot_value))
    if not job.claims_slot:
        result = fn(env, **named)
        result.setdefault("slot", slot.isoformat())
        return result
    return run_in_slot(
        job,
        expression_for(job, env.settings),
        slot,
        env.training.slot_ledger,
        lambda: fn(env, **named),
        owner=env.task_id,
    )


def _store_legacy_outcome(env: TaskEnv, payload: dict[str, object]) -> dict[str, object]:
    """Store a legacy-style outcome through the intake (validation, dedup on a key fixed
    by the message); the task then trains it by id."""
    payload.setdefault("outcome_key", legacy.outcome_key(env.task_id, payload))
    stored = env.training.ingest([OutcomeIn.parse(payload)])
    return {"outcome_id": int(stored.outcome_ids[0])}


@cache
def _parameters(fn: TaskFn) -> frozenset[str]:
    return frozenset(list(inspect.signature(fn).parameters)[1:])


@cache
def _required(fn: TaskFn) -> tuple[str, ...]:
    params = list(inspect.signature(fn).parameters.values())[1:]
    return tuple(p.name for p in params if p.default is inspect.Parameter.empty)


def _check_arguments(name: str, fn: TaskFn, kwargs: Mapping[str, object]) -> None:
    unknown = sorted(set(kwargs) - _parameters(fn))
    if unknown:
        raise ValidationError(
            f"{name} got unexpected argument(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(_parameters(fn))) or 'none'}",
            task=name,
            unexpected=unknown,
        )
    missing = [p for p in _required(fn) if p not in kwargs]
    if missing:
        raise ValidationError(f"{name} needs {', '.join(missing)}", task=name)


def _god(task: str, god: object) -> str:
    if not isinstance(god, str) or not god.strip():
        raise ValidationError(f"{task} needs god_name (a god of the roster)", task=task)
    return god
