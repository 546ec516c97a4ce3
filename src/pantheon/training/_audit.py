"""What a training step records about itself: the outcome-level audit and the spread of
predictions in ``training_history.details``, and the error of a quarantined outcome."""

from __future__ import annotations

from typing import Any

import numpy as np

from pantheon.errors import ValidationError
from pantheon.learning.batch import Batch
from pantheon.learning.kernel import Kernel
from pantheon.store import outcomes as outcome_rows
from pantheon.training._kernels import finite

#: The hourly god row lists its chunk's outcome ids up to this many; a bigger chunk
#: records only ``outcome_count`` and the ``first_id``/``last_id`` bounds (ids of one god
#: are not contiguous, so the bounds are not a range of trained ids). The exactly-once
#: audit reads the online rows, which always list every id.
HOURLY_AUDIT_MAX_IDS = 5_000


def p_spread(kernel: Kernel, batch: Batch) -> float | None:
    """Std of the kernel's predicted success over the batch (before the step).

    Read from the batch's cached features, which the training step that follows reuses:
    the figure costs one forward pass, so it stays exact over every row (the dashboard
    plots it per step)."""
    if not len(batch.rewards):
        return None
    return finite(float(np.std(kernel.predict_proba(batch))))


def audit_details(claimed: outcome_rows.Claimed, *, list_ids: bool = True) -> dict[str, Any]:
    """The outcome-level audit of one training step, for ``training_history.details``."""
    ids = [int(i) for i in claimed.ids]
    out: dict[str, Any] = {
        "outcome_count": len(ids),
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
    }
    if list_ids:
        out["outcome_ids"] = ids
    if claimed.quarantined:
        out["quarantined_ids"] = list(claimed.quarantined)
    return out


def quarantined_error(outcome_id: int, reason: str | None) -> ValidationError:
    """Permanent: the stored row cannot be trained on, retrying will not change that."""
    return ValidationError(
        f"outcome {outcome_id} is quarantined: {reason or 'undecodable'}",
        outcome_id=outcome_id,
        quarantined=True,
    )
