"""The engine's three timescales: one step per outcome, hourly passes, nightly consolidation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pantheon.errors import ValidationError

from .batch import Batch
from .kernel import MINIBATCH, Kernel
from .seeds import seed_int

HOLDOUT_FRACTION = 0.2
MIN_HOLDOUT = 5
CONSOLIDATION_EPOCHS = 2
#: Small data (a fresh god's curriculum) gets more epochs, up to about this many steps.
CONSOLIDATION_MIN_STEPS = 60


def _mean_p(kernel: Kernel, batch: Batch) -> float:
    return float(np.mean(kernel.predict_proba(batch)))


def _mean_reward(batch: Batch) -> float:
    total = float(batch.weights.sum())
    return float(batch.weights @ batch.rewards) / total if total > 0 else 0.0


def log_loss(kernel: Kernel, batch: Batch) -> float:
    """Weighted mean log-loss of the kernel's success predictions on ``batch``."""
    if len(batch) == 0 or float(batch.weights.sum()) <= 0:
        return math.nan
    p = np.clip(kernel.predict_proba(batch), 1e-12, 1 - 1e-12)
    y = batch.successes
    nll = -np.where(y, np.log(p), np.log1p(-p))
    return float(batch.weights @ nll) / float(batch.weights.sum())


def train_from_outcome(kernel: Kernel, batch: Batch) -> dict[str, Any]:
    """One gradient step over one or more coalesced outcomes; updates ``kernel`` in place.

    ``phi_before`` / ``phi_after``: the kernel's mean predicted success on these prompts.
    """
    if len(batch) == 0:
        raise ValidationError("train_from_outcome needs at least one outcome")
    phi_before = _mean_p(kernel, batch)
    loss = kernel.step(batch)
    kernel.outcomes_seen += len(batch)
    return {
        "loss": loss,
        "reward": _mean_reward(batch),
        "phi_before": phi_before,
        "phi_after": _mean_p(kernel, batch),
        "step_count": kernel.step_count,
    }


def train_batch(kernel: Kernel, batch: Batch, epochs: int = 3) -> dict[str, Any]:
    """``epochs`` passes of mini-batch steps over ``batch``; updates ``kernel`` in place."""
    before = kernel.step_count
    loss = kernel.learn_many(batch, epochs=epochs) if len(batch) else math.nan
    return {
        "loss": loss,
        "reward": _mean_reward(batch),
        "steps": kernel.step_count - before,
        "batch_size": len(batch),
    }


@dataclass(frozen=True)
class Consolidation:
    """Result of a nightly consolidation; ``kernel`` is a new kernel when ``kept``."""

    kernel: Kernel
    kept: bool
    loss: float
    steps: int
    holdout_before: float
    holdout_after: float


def split_holdout(outcomes: Batch, seed: int = 0) -> tuple[Batch, Batch]:
    """(train, holdout): a seeded ``HOLDOUT_FRACTION`` of the outcomes is held out."""
    n = len(outcomes)
    n_hold = round(n * HOLDOUT_FRACTION)
    if n_hold < MIN_HOLDOUT:
        return outcomes, Batch.empty()
    order = np.random.default_rng(seed_int("holdout", seed, n)).permutation(n)
    return outcomes.take(np.sort(order[n_hold:])), outcomes.take(np.sort(order[:n_hold]))


def consolidate(kernel: Kernel, curriculum: Batch, outcomes: Batch, seed: int = 0) -> Consolidation:
    """Full passes over curriculum + outcomes on a copy, kept only if not worse on a holdout.

    Two epochs, or more for small data so there are about ``CONSOLIDATION_MIN_STEPS``
    mini-batch steps; the cost stays linear in rows.

    The holdout is a seeded fifth of ``outcomes`` (none when fewer than 25 outcomes; then
    the copy is kept). ``kernel`` itself is never changed.
    """
    train, holdout = split_holdout(outcomes, seed)
    data = Batch.concat(curriculum, train)
    candidate = kernel.copy()
    batches = max(1, math.ceil(len(data) / MINIBATCH))
    epochs = max(CONSOLIDATION_EPOCHS, math.ceil(CONSOLIDATION_MIN_STEPS / batches))
    loss = candidate.learn_many(data, epochs=epochs) if len(data) else math.nan
    before = log_loss(kernel, holdout)
    after = log_loss(candidate, holdout)
    kept = len(data) > 0 and (math.isnan(before) or after <= before)
    return Consolidation(
        kernel=candidate if kept else kernel,
        kept=kept,
        loss=loss,
        steps=candidate.step_count - kernel.step_count,
        holdout_before=before,
        holdout_after=after,
    )
