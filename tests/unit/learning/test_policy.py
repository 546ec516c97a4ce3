"""Routing policies: exact propensities, the floor, greedy, and observed frequencies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pantheon.errors import ValidationError
from pantheon.learning.policy import Policy, PolicyKind, choose, probabilities, seeded_source

pytestmark = pytest.mark.unit

SCORES = [0.81, 0.62, 0.60, 0.15]


@pytest.mark.parametrize("kind", list(PolicyKind))
@pytest.mark.parametrize("temperature", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("rate", [0.0, 0.1, 1.0])
def test_probabilities_sum_to_one_and_respect_the_floor(
    kind: PolicyKind, temperature: float, rate: float
) -> None:
    policy = Policy(kind=kind, temperature=temperature, rate=rate)
    rng = np.random.default_rng(1)
    scores = rng.uniform(-1, 1, size=(200, 4))
    p = probabilities(policy, scores)
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
def test_bad_scores_are_refused(scores: list[float], kw: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        probabilities(Policy(**kw), scores)


@pytest.mark.parametrize(
    ("temperature", "rate"), [(0.0, 0.1), (-1.0, 0.1), (0.1, 1.5), (0.1, -0.1)]
)
def test_bad_parameters_are_refused(temperature: float, rate: float) -> None:
    with pytest.raises(ValidationError):
        Policy(temperature=temperature, rate=rate)
