"""Routing policies with exact choice probabilities (propensities).

Every policy maps the candidates' scores to a probability vector, and the choice is one
draw from it, so the probability with which the chosen god was picked is known exactly
and can be logged with the decision:

- ``greedy``: all the mass on the best score (ties share it equally);
- ``softmax``: ``(1 - rate) * softmax(scores / temperature) + rate / K``. The uniform part
  is a *floor*: every candidate has probability at least ``rate / K``. Off-policy
  estimates (IPS, doubly robust) divide by the logged propensity; a candidate that could
  get probability 0 is never observed, so no estimator can say how it would have done, and
  a tiny probability makes the estimate's variance explode. The floor bounds the
  importance weights by ``K / rate``;
- ``thompson``: ``(1 - rate) * P(candidate's sampled score is the highest) + rate / K``,
  each score drawn from a normal around it with the kernel's posterior std of the
  predicted success (``Prediction.uncertainty``), scaled by ``spread``. Exploration
  goes where the kernels are unsure (a kernel that has seen little of a region is wide
  there) instead of where the scores happen to be close. The probability is computed, not
  estimated from draws: ``Φ((s₁ − s₂) / √(σ₁² + σ₂²))`` for two candidates, and for more
  ``∫ φ_i(x) Π_{j≠i} Φ_j(x) dx`` by piecewise Gauss–Legendre quadrature (to ~1e-9: see
  ``_best_of_normals_row``). The floor is the same as softmax's;
- ``uniform``: ``1 / K`` each (random routing; the same as ``softmax`` with rate 1).

Randomness comes from a :class:`RandomSource` (anything with ``random() -> float`` in
[0, 1)), so a test or a benchmark injects a seeded one and gets the same choices again.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from pantheon.errors import ValidationError


class PolicyKind(enum.StrEnum):
    GREEDY = "greedy"
    SOFTMAX = "softmax"
    THOMPSON = "thompson"
    UNIFORM = "uniform"


class RandomSource(Protocol):
    def random(self) -> float: ...


@dataclass(frozen=True)
class Policy:
    """A policy and its parameters: ``rate`` (the floor) for softmax and thompson,
    ``temperature`` for softmax, ``spread`` (multiplies the posterior std) for thompson."""

    kind: PolicyKind = PolicyKind.SOFTMAX
    temperature: float = 0.1
    spread: float = 1.0
    rate: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValidationError(f"temperature must be positive, got {self.temperature}")
        if not (math.isfinite(self.spread) and self.spread > 0):
            raise ValidationError(f"spread must be positive, got {self.spread}")
        if not (math.isfinite(self.rate) and 0.0 <= self.rate <= 1.0):
            raise ValidationError(f"exploration rate must be in [0, 1], got {self.rate}")

    def floor(self, k: int) -> float:
        """The least probability any of ``k`` candidates gets."""
        if self.kind is PolicyKind.UNIFORM:
            return 1.0 / k
        if self.kind in _FLOORED:
            return self.rate / k
        return 0.0

    def params(self) -> dict[str, float]:
        if self.kind is PolicyKind.SOFTMAX:
            return {"temperature": self.temperature, "rate": self.rate}
        if self.kind is PolicyKind.THOMPSON:
            return {"spread": self.spread, "rate": self.rate}
        return {}


_FLOORED = frozenset({PolicyKind.SOFTMAX, PolicyKind.THOMPSON})
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(16)
_CUTS = np.array([-10, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 10], dtype=np.float64)
#: Φ on a grid (step 1/256 over ±12; beyond, Φ is within 2e-33 of 0 or 1) with the
#: density as its slope: cubic Hermite interpolation between nodes is within ~1e-12 of
#: ``math.erfc`` (error ≤ h⁴·max|Φ⁗|/384), and vectorised (``math.erfc`` one element at a
#: time made a 13-candidate decision take tens of milliseconds).
_GRID_STEP = 1.0 / 256.0
_GRID = np.arange(-12.0, 12.0 + _GRID_STEP / 2, _GRID_STEP)
_GRID_CDF = np.array([0.5 * math.erfc(-x / math.sqrt(2.0)) for x in _GRID])
_GRID_PDF = np.exp(-0.5 * _GRID * _GRID) / math.sqrt(2.0 * math.pi)


def _normal_cdf(x: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Standard normal CDF, elementwise."""
    z = np.clip(np.asarray(x, dtype=np.float64), _GRID[0], _GRID[-1])
    pos = (z - _GRID[0]) / _GRID_STEP
    i = np.minimum(np.floor(pos).astype(np.int64), _GRID.size - 2)
    t = pos - i
    h00 = (1 + 2 * t) * (1 - t) ** 2
    h10 = t * (1 - t) ** 2
    h01 = t * t * (3 - 2 * t)
    h11 = t * t * (t - 1)
    out: NDArray[np.float64] = (
        h00 * _GRID_CDF[i]
        + h10 * _GRID_STEP * _GRID_PDF[i]
        + h01 * _GRID_CDF[i + 1]
        + h11 * _GRID_STEP * _GRID_PDF[i + 1]
    )
    return out


def seeded_source(seed: int) -> np.random.Generator:
    """The default source: numpy's PCG64 with a fixed seed."""
    return np.random.default_rng(seed)


def _scores(scores: NDArray[np.float64] | list[float]) -> NDArray[np.float64]:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim not in (1, 2) or s.shape[-1] == 0:
        raise ValidationError("a policy needs at least one candidate score")
    if not np.all(np.isfinite(s)):
        raise ValidationError("candidate scores must be finite")
    return s


def _greedy(s: NDArray[np.float64]) -> NDArray[np.float64]:
    top = (s == s.max(axis=-1, keepdims=True)).astype(np.float64)
    out: NDArray[np.float64] = top / top.sum(axis=-1, keepdims=True)
    return out


def _best_of_normals(s: NDArray[np.float64], sd: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(candidate i's draw from N(s_i, sd_i²) is the highest), rows of (n, K).

    Candidates with sd 0 are point masses: a row where every sd is 0 is greedy."""
    n, k = s.shape
    out = np.empty_like(s)
    for row in range(n):
        si, di = s[row], sd[row]
        if not np.any(di > 0):
            out[row] = _greedy(si[None, :])[0]
        elif k == 2:
            p0 = 0.5 * math.erfc(-(si[0] - si[1]) / math.hypot(di[0], di[1]) / math.sqrt(2.0))
            out[row] = (p0, 1.0 - p0)
        else:
            out[row] = _best_of_normals_row(si, di)
    return out


def _below(x: NDArray[np.float64], s: float, sd: float) -> NDArray[np.float64]:
    """P(N(s, sd²) < x); a point mass (sd 0) counts a tie as half."""
    if sd > 0:
        cdf: NDArray[np.float64] = _normal_cdf((x - s) / sd)
        return cdf
    return np.where(x > s, 1.0, np.where(x == s, 0.5, 0.0))


def _best_of_normals_row(s: NDArray[np.float64], sd: NDArray[np.float64]) -> NDArray[np.float64]:
    """One row of K > 2: ``∫ φ_i(x) Π_{j≠i} Φ_j(x) dx`` by Gauss–Legendre on segments cut at
    every candidate's mean ± {0, 1, 2, 3, 4, 6, 8, 10} std (so each segment is at most two
    std of any candidate whose density or CDF still changes there)."""
    k = s.size
    cuts = np.unique((s[:, None] + sd[:, None] * _CUTS[None, :]).ravel())
    lo, hi = cuts[:-1], cuts[1:]
    x = ((lo + hi) / 2)[:, None] + ((hi - lo) / 2)[:, None] * _GL_NODES[None, :]
    w = ((hi - lo) / 2)[:, None] * _GL_WEIGHTS[None, :]
    x, w = x.ravel(), w.ravel()
    below = np.array([_below(x, float(s[j]), float(sd[j])) for j in range(k)])
    out = np.empty(k)
    for i in range(k):
        others = np.prod(np.delete(below, i, axis=0), axis=0)
        if sd[i] > 0:
            z = (x - s[i]) / sd[i]
            out[i] = float((w * np.exp(-0.5 * z * z) / (sd[i] * math.sqrt(2 * math.pi))) @ others)
        else:  # a point mass: every other draw below its value
            at = np.array([s[i]])
            out[i] = float(
                np.prod([_below(at, float(s[j]), float(sd[j]))[0] for j in range(k) if j != i])
            )
    total = out.sum()
    result: NDArray[np.float64] = out / total if total > 0 else _greedy(s[None, :])[0]
    return result


def probabilities(
    policy: Policy,
    scores: NDArray[np.float64] | list[float],
    uncertainties: NDArray[np.float64] | list[float] | None = None,
) -> NDArray[np.float64]:
    """Choice probabilities over the candidates (last axis), summing to 1 per row.

    ``scores`` is (K,) for one decision or (n, K) for many; ``uncertainties`` (the same
    shape: each score's posterior std) is what ``thompson`` samples with (required there,
    ignored by the other kinds).
    """
    s = _scores(scores)
    k = s.shape[-1]
    if policy.kind is PolicyKind.UNIFORM:
        return np.full_like(s, 1.0 / k)
    if policy.kind is PolicyKind.GREEDY:
        return _greedy(s)
    if policy.kind is PolicyKind.THOMPSON:
        if uncertainties is None:
            raise ValidationError("the thompson policy needs each score's uncertainty")
        sd = np.asarray(uncertainties, dtype=np.float64)
        if sd.shape != s.shape or not np.all(np.isfinite(sd)) or np.any(sd < 0):
            raise ValidationError("uncertainties must be finite, ≥ 0 and shaped like the scores")
        rows = _best_of_normals(s.reshape(-1, k), policy.spread * sd.reshape(-1, k))
        explored = rows.reshape(s.shape)
    else:
        z = np.exp((s - s.max(axis=-1, keepdims=True)) / policy.temperature)  # max term 1
        explored = z / z.sum(axis=-1, keepdims=True)
    p = (1.0 - policy.rate) * explored + policy.rate / k
    out: NDArray[np.float64] = p / p.sum(axis=-1, keepdims=True)  # exact to rounding
    return out


def draw(probs: NDArray[np.float64], source: RandomSource) -> int:
    """One index drawn from ``probs`` (K,) by inverse CDF: one ``random()`` call."""
    u = float(source.random())
    cdf = np.cumsum(probs)
    index = int(np.searchsorted(cdf, u * cdf[-1], side="right"))
    index = min(index, probs.size - 1)
    while probs[index] <= 0.0:  # u on a boundary next to a zero-probability candidate
        index -= 1
    return index


@dataclass(frozen=True)
class Choice:
    index: int
    propensity: float
    probabilities: NDArray[np.float64]


def choose(
    policy: Policy,
    scores: NDArray[np.float64] | list[float],
    source: RandomSource,
    uncertainties: NDArray[np.float64] | list[float] | None = None,
) -> Choice:
    """Draw one candidate; ``propensity`` is the exact probability it had."""
    p = probabilities(policy, scores, uncertainties)
    if p.ndim != 1:
        raise ValidationError("choose takes the scores of one decision")
    i = draw(p, source)
    return Choice(index=i, propensity=float(p[i]), probabilities=p)
