from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pantheon.errors import ValidationError
from pantheon.learning.geometry import fisher_rao_distance, geodesic_blend, hellinger_embed

pytestmark = pytest.mark.unit

simplex = arrays(np.float64, 8, elements=st.floats(0.0, 1.0)).filter(lambda a: a.sum() > 1e-3)


def _norm(a: np.ndarray) -> np.ndarray:
    normed: np.ndarray = a / a.sum()
    return normed


def test_distance_bounds_and_identity() -> None:
    e1, e2 = np.eye(4)[0], np.eye(4)[1]
    assert fisher_rao_distance(e1, e1) == pytest.approx(0.0, abs=1e-7)
    assert fisher_rao_distance(e1, e2) == pytest.approx(math.pi / 2)


@given(simplex, simplex)
@settings(max_examples=100, deadline=None)
def test_distance_is_symmetric_and_bounded(p: np.ndarray, q: np.ndarray) -> None:
    p, q = _norm(p), _norm(q)
    d = fisher_rao_distance(p, q)
    assert 0.0 <= d <= math.pi / 2 + 1e-9
    assert d == pytest.approx(fisher_rao_distance(q, p))


@given(simplex, simplex, st.floats(0.0, 1.0))
@settings(max_examples=100, deadline=None)
def test_blend_lies_on_the_geodesic(p: np.ndarray, q: np.ndarray, t: float) -> None:
    p, q = _norm(p), _norm(q)
    m = geodesic_blend(p, q, t)
    assert m.sum() == pytest.approx(1.0)
    assert np.all(m >= 0)
    d = fisher_rao_distance(p, q)
    assert fisher_rao_distance(p, m) == pytest.approx(t * d, abs=1e-6)
    assert fisher_rao_distance(m, q) == pytest.approx((1 - t) * d, abs=1e-6)


def test_blend_endpoints_and_errors() -> None:
    p, q = _norm(np.arange(1.0, 5.0)), _norm(np.ones(4))
    np.testing.assert_allclose(geodesic_blend(p, q, 0.0), p)
    np.testing.assert_allclose(geodesic_blend(p, q, 1.0), q)
    with pytest.raises(ValidationError):
        geodesic_blend(p, q, 1.5)
    with pytest.raises(ValidationError):
        fisher_rao_distance(p, np.ones(3) / 3)
    with pytest.raises(ValidationError):
        hellinger_embed([np.nan, 1.0])


def test_hellinger_embedding_is_on_the_unit_sphere() -> None:
    p = _norm(np.arange(1.0, 65.0))
    assert np.linalg.norm(hellinger_embed(p)) == pytest.approx(1.0)
