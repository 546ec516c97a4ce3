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
    UNIFORM = "uniform"


class RandomSource(Protocol):
    def random(self) -> float: ...


@dataclass(frozen=True)
class Policy:
    """A policy and its parameters (``temperature`` and ``rate`` matter for softmax)."""

    kind: PolicyKind = PolicyKind.SOFTMAX
    temperature: float = 0.1
    rate: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValidationError(f"temperature must be positive, got {self.temperature}")
        if not (math.isfinite(self.rate) and 0.0 <= self.rate <= 1.0):
            raise ValidationError(f"exploration rate must be in [0, 1], got {self.rate}")

    def floor(self, k: int) -> float:
        """The least probability any of ``k`` candidates gets."""
        if self.kind is PolicyKind.UNIFORM:
            return 1.0 / k
        if self.kind is PolicyKind.SOFTMAX:
            return self.rate / k
        return 0.0

    def params(self) -> dict[str, float]:
        if self.kind is PolicyKind.SOFTMAX:
            return {"temperature": self.temperature, "rate": self.rate}
        return {}


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


def probabilities(policy: Policy, scores: NDArray[np.float64] | list[float]) -> NDArray[np.float64]:
    """Choice probabilities over the candidates (last axis), summing to 1 per row.

    ``scores`` is (K,) for one decision or (n, K) for many.
    """
    s = _scores(scores)
    k = s.shape[-1]
    if policy.kind is PolicyKind.UNIFORM:
        return np.full_like(s, 1.0 / k)
    best = s.max(axis=-1, keepdims=True)
    if policy.kind is PolicyKind.GREEDY:
        top = (s == best).astype(np.float64)
        out: NDArray[np.float64] = top / top.sum(axis=-1, keepdims=True)
        return out
    z = np.exp((s - best) / policy.temperature)  # shifted: never overflows, max term 1
    soft = z / z.sum(axis=-1, keepdims=True)
    p = (1.0 - policy.rate) * soft + policy.rate / k
    out = p / p.sum(axis=-1, keepdims=True)  # exact to rounding
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
    policy: Policy, scores: NDArray[np.float64] | list[float], source: RandomSource
) -> Choice:
    """Draw one candidate; ``propensity`` is the exact probability it had."""
    p = probabilities(policy, scores)
    if p.ndim != 1:
        raise ValidationError("choose takes the scores of one decision")
    i = draw(p, source)
    return Choice(index=i, propensity=float(p[i]), probabilities=p)
