"""Queue names, task names and the route from each task to its queue.

Three queues by expected run time (the legacy system's split): ``training_fast`` for
seconds, ``training_batch`` for minutes, ``training_slow`` for the long consolidation and
transfer jobs, which get their own time limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

FAST: Final = "training_fast"
BATCH: Final = "training_batch"
SLOW: Final = "training_slow"
QUEUES: Final[tuple[str, ...]] = (FAST, BATCH, SLOW)
#: Celery's default queue: where a plain Celery client puts ``send_task(name)`` without a
#: ``queue=`` (its own ``task_routes`` know nothing of Pantheon's). Workers consume it by
#: default so such a message is trained, not left unseen.
DEFAULT: Final = "celery"
#: Every queue a worker may consume and ``/api/queues`` reports.
ALL_QUEUES: Final[tuple[str, ...]] = (*QUEUES, DEFAULT)

TRAIN_FROM_OUTCOME: Final = "training.tasks.train_from_outcome_task"
SAVE_CHECKPOINT: Final = "training.tasks.save_checkpoint_task"
CLEANUP_CHECKPOINTS: Final = "training.tasks.cleanup_old_checkpoints"
HOURLY_BATCH: Final = "training.tasks.train_hourly_batch_task"
HOURLY_BATCH_ALL: Final = "training.tasks.train_hourly_batch_all"
NIGHTLY: Final = "training.tasks.train_nightly_consolidation_task"
NIGHTLY_ALL: Final = "training.tasks.train_nightly_consolidation_all"
KNOWLEDGE_TRANSFER: Final = "training.tasks.knowledge_transfer_task"
SYNC_SHADOWS: Final = "training.tasks.sync_all_shadows"
SWEEP_OUTBOX: Final = "training.tasks.sweep_outbox"

#: Every task Pantheon registers, and the queue it is routed to.
TASK_QUEUES: Final[dict[str, str]] = {
    TRAIN_FROM_OUTCOME: FAST,
    SAVE_CHECKPOINT: FAST,
    CLEANUP_CHECKPOINTS: FAST,
    HOURLY_BATCH: BATCH,
    HOURLY_BATCH_ALL: BATCH,
    NIGHTLY: SLOW,
    NIGHTLY_ALL: SLOW,
    KNOWLEDGE_TRANSFER: SLOW,
    SYNC_SHADOWS: SLOW,
    SWEEP_OUTBOX: FAST,
}

#: The nine task names of the legacy system (the outbox sweep is Pantheon's own addition).
LEGACY_TASKS: Final[tuple[str, ...]] = tuple(name for name in TASK_QUEUES if name != SWEEP_OUTBOX)


class DispatchMode(StrEnum):
    """How a task was dispatched: sent to Celery, run in this process, left to the outbox
    sweep (a transient failure after the outcome was stored), or not at all (a duplicate
    outcome, training off)."""

    CELERY = "celery"
    SYNC = "sync"
    DEFERRED = "deferred"
    NONE = "none"


@dataclass(frozen=True)
class DispatchResult:
    """Where a task went: its id, ``celery`` / ``sync`` / ``deferred``, and a sync result."""

    task_id: str | None
    mode: DispatchMode
    #: The task's JSON result (an in-process run on the caller's thread).
    result: dict[str, object] | None = None
    queue: str = ""
    #: Not sent: a task already pending for the god will train it (``task_id`` is that
    #: task's id).
    skipped_for_pending: bool = False


def queue_for(task_name: str) -> str:
    """The queue ``task_name`` is routed to; unknown names are a programming error."""
    try:
        return TASK_QUEUES[task_name]
    except KeyError:
        raise KeyError(f"unknown task {task_name!r}; known: {', '.join(TASK_QUEUES)}") from None


def task_routes() -> dict[str, dict[str, str]]:
    """Celery's ``task_routes`` setting built from :data:`TASK_QUEUES`."""
    return {name: {"queue": queue} for name, queue in TASK_QUEUES.items()}


def parse_queues(text: str | None) -> list[str]:
    """``"training_fast,training_slow"`` → a validated list; empty or ``None`` → all four
    (the three training queues and Celery's default ``celery``)."""
    if not text:
        return list(ALL_QUEUES)
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in ALL_QUEUES]
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(ALL_QUEUES)}")
    return names
