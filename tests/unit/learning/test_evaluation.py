from __future__ import annotations

import numpy as np
import pytest

from pantheon.errors import ValidationError
from pantheon.learning.evaluation import apgr, cpt, routing_curve

pytestmark = pytest.mark.unit


@pytest.fixture
def verdicts() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    strong = rng.random(4000) < 0.8
    weak = rng.random(4000) < 0.65
    return strong.astype(float), weak.astype(float)


def test_curve_runs_from_weak_to_strong(verdicts: tuple[np.ndarray, np.ndarray]) -> None:
    strong, weak = verdicts
    c, pgr = routing_curve(strong, weak, np.arange(strong.size))
    assert c[0] == 0.0
    assert c[-1] == 1.0
    assert c.size == strong.size + 1
    assert pgr[0] == pytest.approx(0.0)
    assert pgr[-1] == pytest.approx(1.0)


def test_random_routing_is_about_half(verdicts: tuple[np.ndarray, np.ndarray]) -> None:
    strong, weak = verdicts
    scores = np.random.default_rng(1).random(strong.size)
    assert apgr(strong, weak, scores) == pytest.approx(0.5, abs=0.05)
    assert apgr(strong, weak, np.zeros(strong.size)) == pytest.approx(0.5)
    assert cpt(strong, weak, np.zeros(strong.size)) == pytest.approx(0.5, abs=1e-3)


def test_oracle_routing_beats_random_and_anti_oracle_loses(
    verdicts: tuple[np.ndarray, np.ndarray],
) -> None:
    strong, weak = verdicts
    gain = strong - weak
    assert apgr(strong, weak, gain) > 0.9
    assert cpt(strong, weak, gain) < 0.2
    assert apgr(strong, weak, -gain) < 0.2


def test_hand_computed_example() -> None:
    strong, weak = [1, 1, 0, 1], [0, 1, 0, 0]
    # Order by score: prompts 0, 3, 1, 2 → gains 1, 1, 0, 0; gap 2.
    _c, pgr = routing_curve(strong, weak, [4, 2, 1, 3])
    np.testing.assert_allclose(pgr, [0, 0.5, 1, 1, 1])
    assert apgr(strong, weak, [4, 2, 1, 3]) == pytest.approx((0.25 + 0.75 + 1 + 1) / 4)
    assert cpt(strong, weak, [4, 2, 1, 3]) == pytest.approx(0.25)


def test_errors() -> None:
    with pytest.raises(ValidationError):
        apgr([1, 0], [1, 0], [0.1, 0.2])
    with pytest.raises(ValidationError):
        apgr([1, 0], [0, 0], [0.1])
    with pytest.raises(ValidationError):
        apgr([1, 0], [0, 0], [np.nan, 0.2])
