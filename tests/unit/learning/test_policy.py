"""Routing policies: exact propensities, the floor, greedy, and observed frequencies."""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np
import pytest

from pantheon.errors import ValidationError
from pantheon.learning.policy import Policy, PolicyKind, choose, probabilities, seeded_source

pytestmark = pytest.mark.unit

SCORES = [0.81, 0.62, 0.60, 0.15]


class PolicyArgs(TypedDict, total=False):
    """Keyword arguments of :class:`Policy` a parametrized case may give."""

    kind: PolicyKind
    temperature: float
    spread: float
    rate: float


@pytest.mark.parametrize("kind", list(PolicyKind))
@pytest.mark.parametrize("temperature", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("rate", [0.0, 0.1, 1.0])
def test_probabilities_sum_to_one_and_respect_the_floor(
    kind: PolicyKind, temperature: float, rate: float
) -> None:
    policy = Policy(kind=kind, temperature=temperature, rate=rate)
    rng = np.random.default_rng(1)
    scores = rng.uniform(-1, 1, size=(200, 4))
    spread = rng.uniform(0, 0.3, size=(200, 4)) * (rng.random((200, 4)) > 0.2)
    p = probabilities(policy, scores, spread)
    assert p.shape == scores.shape
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert np.all(p >= policy.floor(4) - 1e-12)
    assert np.all(p <= 1.0)


def test_softmax_floor_is_rate_over_k_even_for_hopeless_candidates() -> None:
    policy = Policy(kind=PolicyKind.SOFTMAX, temperature=0.01, rate=0.2)
    p = probabilities(policy, [100.0, 0.0, -100.0, -1e6])
    assert p[1:] == pytest.approx([0.05, 0.05, 0.05])
    assert p[0] == pytest.approx(0.85)


def test_greedy_puts_everything_on_the_best_and_splits_ties() -> None:
    greedy = Policy(kind=PolicyKind.GREEDY)
    assert probabilities(greedy, SCORES).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert probabilities(greedy, [0.5, 0.5, 0.1]).tolist() == [0.5, 0.5, 0.0]
    source = seeded_source(0)
    picks = {choose(greedy, SCORES, source).index for _ in range(200)}
    assert picks == {0}


def test_uniform_is_one_over_k() -> None:
    assert probabilities(Policy(kind=PolicyKind.UNIFORM), SCORES).tolist() == [0.25] * 4


def test_observed_choice_frequencies_match_the_propensities() -> None:
    """Statistical test, fixed seed: 40,000 draws, each frequency within 4.5 standard errors
    of its propensity, and Pearson's chi-square below the 0.999 quantile (df 3: 16.27)."""
    policy = Policy(kind=PolicyKind.SOFTMAX, temperature=0.1, rate=0.1)
    source = seeded_source(12345)
    n = 40_000
    counts = np.zeros(4)
    logged = []
    for _ in range(n):
        c = choose(policy, SCORES, source)
        counts[c.index] += 1
        logged.append((c.index, c.propensity))
    p = probabilities(policy, SCORES)
    for index, propensity in logged[:50]:
        assert propensity == p[index]
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(counts / n - p) <= 4.5 * se), (counts / n, p)
    chi2 = float(((counts - n * p) ** 2 / (n * p)).sum())
    assert chi2 < 16.27


def test_a_seeded_source_repeats_its_choices() -> None:
    policy = Policy()
    a = [choose(policy, SCORES, seeded_source(7)).index for _ in range(5)]
    b = [choose(policy, SCORES, seeded_source(7)).index for _ in range(5)]
    assert a == b


class _Edge:
    """A source returning fixed values, to hit the CDF's boundaries."""

    def __init__(self, u: float) -> None:
        self.u = u

    def random(self) -> float:
        return self.u


@pytest.mark.parametrize("u", [0.0, 0.5, 0.999999999999])
def test_never_chooses_a_zero_probability_candidate(u: float) -> None:
    greedy = Policy(kind=PolicyKind.GREEDY)
    c = choose(greedy, [0.1, 0.9, 0.2], _Edge(u))
    assert c.index == 1
    assert c.propensity == 1.0


@pytest.mark.parametrize(
    ("scores", "kw"),
    [
        ([], {}),
        ([math.nan, 0.1], {}),
        ([math.inf, 0.1], {}),
    ],
)
def test_bad_scores_are_refused(scores: list[float], kw: PolicyArgs) -> None:
    with pytest.raises(ValidationError):
        probabilities(Policy(**kw), scores)


@pytest.mark.parametrize(
    ("temperature", "rate"), [(0.0, 0.1), (-1.0, 0.1), (0.1, 1.5), (0.1, -0.1)]
)
def test_bad_parameters_are_refused(temperature: float, rate: float) -> None:
    with pytest.raises(ValidationError):
        Policy(temperature=temperature, rate=rate)


def _monte_carlo_best(scores: list[float], sd: list[float], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    draws = np.asarray(scores) + np.asarray(sd) * rng.standard_normal((n, len(scores)))
    return np.bincount(draws.argmax(axis=1), minlength=len(scores)) / n


@pytest.mark.parametrize(
    ("scores", "sd"),
    [
        ([0.8, 0.7], [0.05, 0.10]),
        ([0.81, 0.62, 0.60, 0.15], [0.02, 0.10, 0.15, 0.30]),
        ([0.5, 0.4, 0.45], [0.0, 0.08, 0.02]),
    ],
)
def test_thompson_propensities_are_the_chance_each_draw_is_the_highest(
    scores: list[float], sd: list[float]
) -> None:
    """The closed form (two candidates) and the quadrature (more) against 400,000 sampled
    draws, fixed seed: within 4.5 standard errors, and the floor on top."""
    exact = probabilities(Policy(kind=PolicyKind.THOMPSON, spread=1.0, rate=0.0), scores, sd)
    n = 400_000
    freq = _monte_carlo_best(scores, sd, n, seed=3)
    se = np.sqrt(np.maximum(exact * (1 - exact), 1e-12) / n)
    assert np.all(np.abs(freq - exact) <= 4.5 * se + 1e-9), (freq, exact)
    floored = probabilities(Policy(kind=PolicyKind.THOMPSON, spread=1.0, rate=0.2), scores, sd)
    k = len(scores)
    assert floored == pytest.approx(0.8 * exact + 0.2 / k, abs=1e-12)


def test_thompson_explores_where_the_kernels_are_unsure() -> None:
    """Same score gap, wider posteriors: more mass on the lower score; none at all: greedy
    (plus the floor)."""
    policy = Policy(kind=PolicyKind.THOMPSON, spread=1.0, rate=0.1)
    sure = probabilities(policy, [0.8, 0.7], [0.01, 0.01])
    unsure = probabilities(policy, [0.8, 0.7], [0.1, 0.2])
    assert unsure[1] > sure[1] + 0.2
    assert probabilities(policy, [0.8, 0.7], [0.0, 0.0]).tolist() == pytest.approx([0.95, 0.05])
    assert probabilities(policy, [0.7, 0.7], [0.0, 0.0]).tolist() == pytest.approx([0.5, 0.5])


def test_thompson_choice_frequencies_match_the_propensities() -> None:
    """The logged propensity is what the draw used: 20,000 choices between two candidates,
    Pearson's chi-square below the 0.999 quantile (df 1: 10.83)."""
    policy = Policy(kind=PolicyKind.THOMPSON, spread=1.0, rate=0.1)
    scores, sd = [0.8, 0.72], [0.05, 0.1]
    source = seeded_source(99)
    n = 20_000
    counts = np.zeros(2)
    p = probabilities(policy, scores, sd)
    assert 0.2 < p[1] < 0.4
    for _ in range(n):
        c = choose(policy, scores, source, sd)
        counts[c.index] += 1
        assert c.propensity == p[c.index]
    chi2 = float(((counts - n * p) ** 2 / (n * p)).sum())
    assert chi2 < 10.83


@pytest.mark.parametrize("sd", [None, [0.1], [0.1, -0.1], [0.1, math.nan]])
def test_thompson_refuses_missing_or_bad_uncertainties(sd: list[float] | None) -> None:
    with pytest.raises(ValidationError):
        probabilities(Policy(kind=PolicyKind.THOMPSON), [0.6, 0.5], sd)


@pytest.mark.parametrize("spread", [0.0, -1.0, math.inf])
def test_a_bad_spread_is_refused(spread: float) -> None:
    with pytest.raises(ValidationError):
        Policy(kind=PolicyKind.THOMPSON, spread=spread)


def test_thompson_logs_its_own_parameters() -> None:
    policy = Policy(kind=PolicyKind.THOMPSON, spread=2.0, rate=0.2)
    assert policy.params() == {"spread": 2.0, "rate": 0.2}
    assert policy.floor(4) == pytest.approx(0.05)
