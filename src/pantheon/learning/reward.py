"""The one reward function: outcome quality signals → a number in [-1, 1]."""

from __future__ import annotations

import math

from pantheon.errors import ValidationError

DEFAULT_PHI = 0.5
DEFAULT_COHERENCE = 0.7


def _unit(name: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ValidationError(f"{name} must be a number in [0, 1], got {value!r}")
    return v


def compute_reward(
    success: bool,
    phi: float | None = None,
    coherence_score: float | None = None,
    score: float | None = None,
) -> float:
    """Reward of one outcome, clipped to [-1, 1] and non-decreasing in every argument.

    ``r = 0.6·s + 0.2·(2φ−1) + 0.1·(2c−1) + 0.1·(2q−1)`` with s = ±1 for success/failure,
    φ = ``phi`` (default 0.5), c = ``coherence_score`` (default 0.7) and q = the graded
    ``score`` (default: 1 on success, 0 on failure). ``kappa`` is recorded elsewhere, not used.
    """
    s = 1.0 if bool(success) else -1.0
    p = _unit("phi", phi, DEFAULT_PHI)
    c = _unit("coherence_score", coherence_score, DEFAULT_COHERENCE)
    q = _unit("score", score, 1.0 if s > 0 else 0.0)
    r = 0.6 * s + 0.2 * (2 * p - 1) + 0.1 * (2 * c - 1) + 0.1 * (2 * q - 1)
    return max(-1.0, min(1.0, r))
