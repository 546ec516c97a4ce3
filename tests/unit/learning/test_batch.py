from __future__ import annotations

import numpy as np
import pytest

from pantheon.learning import batch as batch_module
from pantheon.learning import timescales
from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import BASIN_DIM
from pantheon.learning.kernel import _CHUNK_ROWS, KERNEL_KINDS, Kernel
from pantheon.learning.models import features

pytestmark = pytest.mark.unit


def _batch(n: int, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    basins = rng.dirichlet(np.full(BASIN_DIM, 0.5), size=n)
    basins[: n // 10, :8] = 0.0  # zeros in the simplex: the clipped end of the features
    basins /= basins.sum(axis=1, keepdims=True)
    successes = rng.random(n) < basins[:, 0] * BASIN_DIM / 2
    return Batch(basins, rng.uniform(-1, 1, n), successes)


def test_features_are_the_models_features_computed_once_and_read_only() -> None:
    batch = _batch(300)
    f = batch.features()
    assert np.array_equal(f, features(batch.basins))
    assert batch.features() is f
    with pytest.raises(ValueError):
        f[0, 0] = 1.0
    with pytest.raises(ValueError):
        batch.basins[0, 0] = 0.5  # the cache stays the features of the basins it holds


def test_gathered_features_equal_features_of_gathered_basins_bit_for_bit() -> None:
    """What lets the epochs gather cached rows instead of recomputing them per chunk."""
    batch = _batch(5_000, seed=3)
    rng = np.random.default_rng(7)
    for size in (1, 7, 256, 2_048, 5_000):
        idx = rng.permutation(len(batch))[:size]
        assert np.array_equal(batch.features()[idx], features(batch.basins[idx]))


@pytest.mark.parametrize("kind", KERNEL_KINDS)
def test_hourly_training_computes_features_once_per_chunk(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def counted(basins: np.ndarray) -> np.ndarray:
        calls.append(basins.shape[0])
        return features(basins)

    monkeypatch.setattr(batch_module, "features", counted)
    batch = _batch(_CHUNK_ROWS + 500)  # more than one gathered chunk per epoch
    god, shadow = Kernel("zeus", kind=kind), Kernel("zeus_shadow", kind=kind)
    for kernel, epochs in ((god, 3), (shadow, 1)):
        kernel.predict_proba(batch)
        timescales.train_batch(kernel, batch, epochs=epochs)
    assert calls == [len(batch)]


def test_training_on_a_batch_with_cached_features_learns_the_same_numbers() -> None:
    """A batch whose features were read before (the audit) trains exactly as a fresh one."""
    warm, cold = _batch(3_000, seed=5), _batch(3_000, seed=5)
    warm.features()
    a, b = Kernel("zeus"), Kernel("zeus")
    timescales.train_batch(a, warm, epochs=3)
    timescales.train_batch(b, cold, epochs=3)
    for key, value in a.state_dict()["arrays"].items():
        assert np.array_equal(value, b.state_dict()["arrays"][key]), key


def test_take_and_concat_give_batches_with_their_own_features() -> None:
    batch = _batch(400)
    batch.features()
    part = batch.take(np.arange(0, 400, 3))
    assert np.array_equal(part.features(), features(batch.basins[::3]))
    joined = Batch.concat(part, batch)
    assert np.array_equal(joined.features(), features(joined.basins))
