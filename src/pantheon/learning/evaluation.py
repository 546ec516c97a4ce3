"""RouteLLM routing metrics: performance gap recovered (PGR), its area (APGR) and CPT.

Given per-prompt verdicts of a strong and a weak model and a routing score (higher = send
to strong), the prompts are sent to the strong model in decreasing score order. For k
strong calls (share c = k/n) performance is the mean verdict of the routed answers and
PGR(c) = (perf(c) − perf_weak_only) / (perf_strong_only − perf_weak_only). Tied scores
count as routed in random order (PGR is linear across a tie), so a constant score gives
APGR = 0.5 exactly. APGR is the trapezoid area under PGR over c ∈ [0, 1], one prompt per
step; CPT(x) is the smallest share c with PGR(c) ≥ x.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pantheon.errors import ValidationError


def routing_curve(
    perf_strong: ArrayLike, perf_weak: ArrayLike, strong_score: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(share of strong calls c, PGR(c)), each of length n + 1."""
    s = np.asarray(perf_strong, dtype=np.float64).reshape(-1)
    w = np.asarray(perf_weak, dtype=np.float64).reshape(-1)
    score = np.asarray(strong_score, dtype=np.float64).reshape(-1)
    n = s.size
    if n == 0 or w.size != n or score.size != n:
        raise ValidationError("routing_curve needs three equal-length, non-empty arrays")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(w)) and np.all(np.isfinite(score))):
        raise ValidationError("routing_curve inputs must be finite")
    gap = float(s.sum() - w.sum())
    if abs(gap) < 1e-12:
        raise ValidationError("strong and weak models perform equally: PGR is undefined")
    order = np.argsort(-score, kind="stable")
    gain = (s - w)[order]
    sorted_score = score[order]
    # Tie groups: the gain of a group is spread evenly over its members.
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    sizes = np.diff(np.r_[starts, n])
    group_mean = np.add.reduceat(gain, starts) / sizes
    smoothed = np.repeat(group_mean, sizes)
    cum = np.r_[0.0, np.cumsum(smoothed)]
    c = np.arange(n + 1, dtype=np.float64) / n
    return c, cum / gap


def apgr(perf_strong: ArrayLike, perf_weak: ArrayLike, strong_score: ArrayLike) -> float:
    """Area under the PGR curve over the strong-call share 0..1 (random routing ≈ 0.5)."""
    c, pgr = routing_curve(perf_strong, perf_weak, strong_score)
    return float(np.sum((pgr[1:] + pgr[:-1]) * np.diff(c)) / 2.0)


def cpt(
    perf_strong: ArrayLike, perf_weak: ArrayLike, strong_score: ArrayLike, x: float = 0.5
) -> float:
    """Smallest share of strong calls whose PGR reaches ``x`` (e.g. 0.5 for CPT(50%))."""
    c, pgr = routing_curve(perf_strong, perf_weak, strong_score)
    hit = np.flatnonzero(pgr >= x - 1e-12)
    return float(c[hit[0]]) if hit.size else 1.0
