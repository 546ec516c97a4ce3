"""Off-policy evaluation: what a target policy would have scored on logged decisions.

A log holds, per decision ``i``: the chosen candidate ``a_i``, the probability ``p_i`` the
logging policy gave it (its propensity), and the observed reward ``r_i``. A target policy
gives ``pi[i, a]`` for every candidate ``a``; a reward model predicts ``q[i, a]``.

- IPS: ``mean(w_i r_i)`` with ``w_i = pi[i, a_i] / p_i``. Unbiased when every candidate
  the target may pick had a positive logging probability (hence the exploration floor).
- SNIPS: ``sum(w r) / sum(w)``; slightly biased, much lower variance.
- DR (doubly robust): ``mean(sum_a pi[i, a] q[i, a] + w_i (r_i - q[i, a_i]))``; unbiased if
  either the propensities or the reward model are right, and low-variance when ``q`` is good.

Confidence intervals are normal approximations: ``value ± z * sd / sqrt(n)`` over the
per-decision terms (IPS, DR), and the delta method for SNIPS (terms ``w_i (r_i - V) /
mean(w)``). They are cheap enough for an API call and valid for the large logs the
estimators need anyway; a log of a few dozen decisions gets a wide interval, as it should.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pantheon.errors import ValidationError

#: Two-sided 95 % normal quantile.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Estimates:
    ips: Estimate
    snips: Estimate
    dr: Estimate


def _interval(terms: NDArray[np.float64], value: float, z: float) -> Estimate:
    n = terms.size
    sd = float(terms.std(ddof=1)) if n > 1 else math.inf
    half = z * sd / math.sqrt(n) if n > 0 else math.inf
    return Estimate(value=value, low=value - half, high=value + half, n=n)


def _check(
    actions: NDArray[np.int64],
    propensities: NDArray[np.float64],
    rewards: NDArray[np.float64],
    target: NDArray[np.float64],
    model: NDArray[np.float64] | None,
) -> None:
    n = actions.size
    if n == 0:
        raise ValidationError("off-policy evaluation needs at least one logged decision")
    if propensities.shape != (n,) or rewards.shape != (n,) or target.ndim != 2:
        raise ValidationError("actions, propensities and rewards must be (n,); target (n, K)")
    if target.shape[0] != n or (model is not None and model.shape != target.shape):
        raise ValidationError("target and model must be (n, K) like each other")
    if np.any(actions < 0) or np.any(actions >= target.shape[1]):
        raise ValidationError("a logged action is outside the candidates")
    if not np.all(np.isfinite(propensities)) or np.any(propensities <= 0):
        raise ValidationError("logged propensities must be positive")
    if not (np.all(np.isfinite(rewards)) and np.all(np.isfinite(target))):
        raise ValidationError("rewards and target probabilities must be finite")
    if model is not None and not np.all(np.isfinite(model)):
        raise ValidationError("reward-model predictions must be finite")


def estimate(
    actions: NDArray[np.int64] | list[int],
    propensities: NDArray[np.float64] | list[float],
    rewards: NDArray[np.float64] | list[float],
    target: NDArray[np.float64],
    model: NDArray[np.float64],
    *,
    z: float = Z95,
) -> Estimates:
    """IPS, SNIPS and DR estimates of the target policy's mean reward, with intervals."""
    a = np.asarray(actions, dtype=np.int64)
    p = np.asarray(propensities, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    pi = np.asarray(target, dtype=np.float64)
    q = np.asarray(model, dtype=np.float64)
    _check(a, p, r, pi, q)
    rows = np.arange(a.size)
    w = pi[rows, a] / p
    ips_terms = w * r
    ips = _interval(ips_terms, float(ips_terms.mean()), z)
    w_mean = float(w.mean())
    if w_mean > 0:
        snips_value = float(ips_terms.sum() / w.sum())
        snips = _interval(w * (r - snips_value) / w_mean, snips_value, z)
        snips = Estimate(snips_value, snips.low, snips.high, snips.n)
    else:  # the target never agrees with the log: nothing to normalise by
        snips = Estimate(math.nan, -math.inf, math.inf, int(a.size))
    dr_terms = (pi * q).sum(axis=1) + w * (r - q[rows, a])
    dr = _interval(dr_terms, float(dr_terms.mean()), z)
    return Estimates(ips=ips, snips=snips, dr=dr)
