"""An annealed fit ends where its data put it, not a mini-batch's noise away: two
shuffles of the same noisy data end much closer together than two constant-step fits."""

from __future__ import annotations

import numpy as np
import pytest

from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import BASIN_DIM, to_simplex
from pantheon.learning.kernel import Kernel

pytestmark = pytest.mark.unit


def _noisy_batch(n: int = 2000) -> Batch:
    rng = np.random.default_rng(7)
    z = rng.normal(size=(n, BASIN_DIM))
    p = 1.0 / (1.0 + np.exp(-(z[:, 0] - 0.5 * z[:, 1])))
    y = rng.random(n) < p
    return Batch(to_simplex(z), np.where(y, 0.7, -0.7), y)


def _fit(name: str, batch: Batch, anneal: bool) -> Kernel:
    kernel = Kernel(name)
    kernel.learn_many(batch, epochs=40, anneal=anneal)
    return kernel


def test_annealed_fits_agree_across_shuffles() -> None:
    batch = _noisy_batch()
    gaps = {}
    for anneal in (False, True):
        a, b = _fit("apollo", batch, anneal), _fit("artemis", batch, anneal)  # other shuffles
        gaps[anneal] = float(np.abs(a.params["w_success"] - b.params["w_success"]).max())
    assert gaps[True] < 0.5 * gaps[False]


def test_l2_keeps_a_starved_kernel_near_its_base_rate() -> None:
    few = _noisy_batch(40)
    free, held = Kernel("hermes"), Kernel("hermes")
    free.learn_many(few, epochs=40)
    held.learn_many(few, epochs=40, l2=1.0)
    weights = slice(0, -1)  # the last entry is the constant term: never pulled
    assert (
        np.abs(held.params["w_success"][weights]).max()
        < np.abs(free.params["w_success"][weights]).max()
    )
    assert held.params["w_success"][-1] != 0.0
