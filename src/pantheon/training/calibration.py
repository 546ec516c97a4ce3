"""Calibration: the cost weight that sends a given share of recent prompts to the most
expensive god, as RouteLLM calibrates its thresholds on sample traffic.

The recent prompts are the newest recorded decisions (their basins; no text needed) with
their candidates. Under the greedy policy a prompt goes to the most expensive god ``E``
while ``p_E - w c_E`` beats every other candidate's ``p_a - w c_a``; that share falls as
the weight ``w`` grows, so the smallest ``w`` whose share is at most the target is found
by bisection on the current kernels' predictions. With two gods this is RouteLLM's
threshold on the predicted-success gap: ``threshold = w * (c_E - c_other)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from pantheon.errors import ValidationError
from pantheon.training.decisions import recent_basins
from pantheon.training.evaluation import predicted_success

if TYPE_CHECKING:
    from pantheon.training.service import TrainingService

DEFAULT_RECENT = 2000
_ITERATIONS = 60


@dataclass(frozen=True)
class Calibration:
    share: float
    god_name: str
    cost_weight: float
    achieved_share: float
    prompts: int


def _share(
    q: NDArray[np.float64], costs: NDArray[np.float64], mask: NDArray[np.bool_], top: int, w: float
) -> float:
    scores = np.where(mask, q - w * costs[None, :], -np.inf)
    rows = mask[:, top]
    return float((scores.argmax(axis=1) == top)[rows].mean()) if rows.any() else 0.0


def calibrate(service: TrainingService, share: float, recent: int = DEFAULT_RECENT) -> Calibration:
    if not 0.0 <= share <= 1.0:
        raise ValidationError(f"share must be in [0, 1], got {share}")
    basins, candidates = recent_basins(service, recent)
    if not candidates:
        raise ValidationError("no routing decision recorded yet: route some traffic first")
    gods = sorted({g for c in candidates for g in c})
    costs = np.array([service.roster.get(g).cost_per_call for g in gods])
    top = int(np.argmax(costs))
    if np.all(costs == costs[top]):
        raise ValidationError(
            "every candidate god costs the same: set cost_per_call in the roster first"
        )
    col = {g: j for j, g in enumerate(gods)}
    mask = np.zeros((len(candidates), len(gods)), dtype=bool)
    for i, names in enumerate(candidates):
        mask[i, [col[g] for g in names]] = True
    q = predicted_success(service, gods, basins)
    low, high = 0.0, 1.0
    cheaper = costs[top] - np.max(costs[costs < costs[top]])
    high = 1.0 / cheaper + 1.0  # a gap of 1 in predicted success is the most there is
    if _share(q, costs, mask, top, low) <= share:
        high = 0.0
    else:
        for _ in range(_ITERATIONS):
            mid = (low + high) / 2
            if _share(q, costs, mask, top, mid) <= share:
                high = mid
            else:
                low = mid
    return Calibration(
        share=share,
        god_name=gods[top],
        cost_weight=float(high),
        achieved_share=_share(q, costs, mask, top, high),
        prompts=len(candidates),
    )
