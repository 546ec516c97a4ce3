"""Messages in the legacy system's shapes, turned into the tasks' own keyword arguments.

The legacy system's callers may still send a task's arguments positionally, name a god
``god`` instead of ``god_name``, or send ``train_from_outcome_task`` with the outcome's
fields instead of an ``outcome_id``. Everything that knows those shapes lives here; the
task functions (:mod:`pantheon.worker.tasks`) only see their own signature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from pantheon.errors import ValidationError
from pantheon.worker import queues

#: The legacy ``train_from_outcome_task`` signature, in its positional order.
OUTCOME_ORDER = (
    "god_name",
    "prompt",
    "response",
    "success",
    "phi",
    "kappa",
    "coherence_score",
    "basin_trajectory",
)
OUTCOME_FIELDS = frozenset(OUTCOME_ORDER)
#: Optional intake fields a legacy-style outcome call may add.
EXTRA_OUTCOME_FIELDS = frozenset(
    {"score", "outcome_key", "source_type", "source_id", "decision_id"}
)
#: What a legacy-style outcome call must carry.
REQUIRED_OUTCOME_FIELDS = ("god_name", "prompt", "response", "success")

#: Positional arguments of the other legacy tasks, in order.
POSITIONAL: dict[str, tuple[str, ...]] = {
    queues.HOURLY_BATCH: ("god_name",),
    queues.NIGHTLY: ("god_name",),
    queues.SAVE_CHECKPOINT: ("god_name", "trigger"),
    queues.KNOWLEDGE_TRANSFER: (
        "transfer_type",
        "source_god",
        "target_god",
        "transfer_ratio",
        "extra_params",
    ),
}
#: Tasks whose ``god_name`` the legacy callers may spell ``god``.
GOD_ALIAS_TASKS = frozenset({queues.HOURLY_BATCH, queues.NIGHTLY, queues.SAVE_CHECKPOINT})


def bind_positional(
    task: str, args: tuple[object, ...], kwargs: Mapping[str, object]
) -> dict[str, object]:
    """Name positional arguments the way the legacy signatures did."""
    if not args:
        return dict(kwargs)
    if task == queues.TRAIN_FROM_OUTCOME:
        single_id = len(args) == 1 and isinstance(args[0], int)
        names: tuple[str, ...] = ("outcome_id",) if single_id else OUTCOME_ORDER
    else:
        names = POSITIONAL.get(task, ())
    if len(args) > len(names):
        raise ValidationError(f"{task} takes at most {len(names)} positional argument(s)")
    bound = dict(zip(names, args, strict=False))
    clash = sorted(set(bound) & set(kwargs))
    if clash:
        raise ValidationError(f"{task} got {', '.join(clash)} twice")
    return {**bound, **kwargs}


def rename_god(task: str, kwargs: dict[str, object]) -> dict[str, object]:
    """``god`` → ``god_name`` for the tasks whose legacy callers used the short name."""
    if task in GOD_ALIAS_TASKS and "god" in kwargs and "god_name" not in kwargs:
        kwargs = dict(kwargs)
        kwargs["god_name"] = kwargs.pop("god")
    return kwargs


def normalize(
    task: str, args: tuple[object, ...], kwargs: Mapping[str, object]
) -> tuple[dict[str, object], dict[str, object] | None]:
    """A legacy-shaped message as (the task's keyword arguments, a legacy outcome to store
    first or None). The outcome's id then joins the arguments as ``outcome_id``."""
    named = rename_god(task, bind_positional(task, args, kwargs))
    if task == queues.TRAIN_FROM_OUTCOME and is_outcome_payload(named):
        return {}, outcome_payload(named)
    return named, None


def is_outcome_payload(kwargs: Mapping[str, object]) -> bool:
    """True for a ``train_from_outcome_task`` call carrying the outcome instead of its id."""
    return "outcome_id" not in kwargs and bool(set(kwargs) - {"god_name"} or not kwargs)


def outcome_payload(kwargs: Mapping[str, object]) -> dict[str, object]:
    """The outcome of a legacy-style call, checked for unknown and missing fields."""
    task = queues.TRAIN_FROM_OUTCOME
    allowed = OUTCOME_FIELDS | EXTRA_OUTCOME_FIELDS
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValidationError(
            f"{task} got unexpected argument(s) {', '.join(unknown)}; accepted: outcome_id "
            f"(with god_name), or {', '.join(sorted(allowed))}",
            task=task,
            unexpected=unknown,
        )
    missing = [name for name in REQUIRED_OUTCOME_FIELDS if name not in kwargs]
    if missing:
        raise ValidationError(
            f"{task} needs outcome_id, or the legacy outcome fields (missing {', '.join(missing)})"
        )
    return dict(kwargs)


def outcome_key(task_id: str | None, payload: Mapping[str, object]) -> str:
    """A key fixed by the message, so a redelivered legacy-style task stores its outcome once."""
    canonical = json.dumps(
        {"task_id": task_id, "kwargs": payload}, sort_keys=True, separators=(",", ":"), default=str
    )
    return "task-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]
