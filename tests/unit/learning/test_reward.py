from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pantheon.errors import ValidationError
from pantheon.learning.reward import compute_reward

pytestmark = pytest.mark.unit

unit = st.floats(0.0, 1.0)


@given(st.booleans(), unit, unit, unit)
def test_reward_is_bounded(success: bool, phi: float, coherence: float, score: float) -> None:
    assert -1.0 <= compute_reward(success, phi, coherence, score) <= 1.0


@given(unit, unit, unit, unit, unit)
def test_reward_is_monotone_in_each_argument(
    phi: float, coherence: float, score: float, lo: float, hi: float
) -> None:
    lo, hi = min(lo, hi), max(lo, hi)
    base = {"phi": phi, "coherence_score": coherence, "score": score}
    for key in base:
        low = compute_reward(True, **{**base, key: lo})
        high = compute_reward(True, **{**base, key: hi})
        assert low <= high
    assert compute_reward(False, **base) <= compute_reward(True, **base)


def test_extremes_and_defaults() -> None:
    assert compute_reward(True, 1.0, 1.0, 1.0) == pytest.approx(1.0)
    assert compute_reward(False, 0.0, 0.0, 0.0) == pytest.approx(-1.0)
    assert compute_reward(True) > 0 > compute_reward(False)


@pytest.mark.parametrize(
    ("key", "value"),
    itertools.product(["phi", "coherence_score", "score"], [-0.1, 1.5, float("nan")]),
)
def test_out_of_range_signals_are_refused(key: str, value: float) -> None:
    with pytest.raises(ValidationError):
        compute_reward(True, **{key: value})
