"""Off-policy estimators recover a known value on synthetic logs."""

from __future__ import annotations

import numpy as np
import pytest

from pantheon.errors import ValidationError
from pantheon.learning import offpolicy
from pantheon.learning.policy import Policy, PolicyKind, probabilities

pytestmark = pytest.mark.unit

K = 3


def _world(seed: int, n: int) -> tuple[np.ndarray, ...]:
    """Contexts with a known success probability per action, a softmax logging policy
    with a floor, and a greedy target policy on a noisy reward model."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2))
    mu = 1 / (1 + np.exp(-np.stack([x[:, 0], x[:, 1], -x[:, 0] - 0.3], axis=1) * 2))
    logging_scores = mu + rng.normal(0, 0.2, size=mu.shape)  # a mediocre logger
    logger = probabilities(Policy(PolicyKind.SOFTMAX, temperature=0.2, rate=0.15), logging_scores)
    actions = np.array([rng.choice(K, p=p) for p in logger])
    rewards = (rng.random(n) < mu[np.arange(n), actions]).astype(float)
    model = np.clip(mu + rng.normal(0, 0.1, size=mu.shape), 0, 1)  # an imperfect model
    target = probabilities(Policy(PolicyKind.GREEDY), model)
    true_value = float((target * mu).sum(axis=1).mean())
    return actions, logger[np.arange(n), actions], rewards, target, model, np.array(true_value)


def test_estimators_recover_the_known_value() -> None:
    actions, props, rewards, target, model, truth = _world(seed=3, n=20_000)
    est = offpolicy.estimate(actions, props, rewards, target, model)
    for e in (est.ips, est.snips, est.dr):
        assert e.low <= float(truth) <= e.high, (e, float(truth))
        assert abs(e.value - float(truth)) < 0.02
    # DR uses the model: a tighter interval than IPS.
    assert est.dr.high - est.dr.low < est.ips.high - est.ips.low


def test_intervals_cover_the_truth_about_95_percent_of_the_time() -> None:
    hits = {"ips": 0, "snips": 0, "dr": 0}
    runs = 60
    for seed in range(runs):
        actions, props, rewards, target, model, truth = _world(seed=100 + seed, n=2_000)
        est = offpolicy.estimate(actions, props, rewards, target, model)
        for name in hits:
            e = getattr(est, name)
            hits[name] += e.low <= float(truth) <= e.high
    for name, count in hits.items():
        assert count >= 0.85 * runs, (name, count)


def test_on_policy_ips_is_the_observed_mean() -> None:
    actions, props, rewards, _target, model, _truth = _world(seed=5, n=1_000)
    logger = np.zeros((actions.size, K))
    logger[np.arange(actions.size), actions] = props
    est = offpolicy.estimate(actions, props, rewards, logger, model)
    assert est.ips.value == pytest.approx(rewards.mean())
    assert est.snips.value == pytest.approx(rewards.mean())


def test_a_wrong_model_is_corrected_by_dr() -> None:
    actions, props, rewards, target, _model, truth = _world(seed=9, n=20_000)
    wrong = np.full_like(target, 0.5)
    est = offpolicy.estimate(actions, props, rewards, target, wrong)
    assert abs(est.dr.value - float(truth)) < 0.02


@pytest.mark.parametrize(
    ("actions", "props", "rewards"),
    [
        ([], [], []),
        ([0], [0.0], [1.0]),
        ([3], [0.5], [1.0]),
        ([0], [0.5], [float("nan")]),
    ],
)
def test_bad_logs_are_refused(actions: list[int], props: list[float], rewards: list[float]) -> None:
    n = len(actions)
    with pytest.raises(ValidationError):
        offpolicy.estimate(actions, props, rewards, np.full((n, K), 1 / K), np.zeros((n, K)))
