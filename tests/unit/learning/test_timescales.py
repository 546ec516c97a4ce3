from __future__ import annotations

import numpy as np
import pytest

from pantheon.errors import ValidationError
from pantheon.learning.batch import Batch
from pantheon.learning.kernel import KERNEL_KINDS, Kernel
from pantheon.learning.timescales import (
    consolidate,
    log_loss,
    split_holdout,
    train_batch,
    train_from_outcome,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("kind", KERNEL_KINDS)
def test_train_from_outcome_is_one_step_toward_the_outcome(
    kind: str, two_kinds_batch: Batch
) -> None:
    kernel = Kernel("athena", kind=kind)
    maths = two_kinds_batch.take(np.arange(3))
    out = train_from_outcome(kernel, maths)
    assert set(out) == {"loss", "reward", "phi_before", "phi_after", "step_count"}
    assert out["step_count"] == 1 == kernel.step_count
    assert out["phi_before"] == pytest.approx(0.5)
    assert out["phi_after"] > out["phi_before"]
    assert out["reward"] == pytest.approx(0.8)
    assert kernel.outcomes_seen == 3
    with pytest.raises(ValidationError):
        train_from_outcome(kernel, Batch.empty())


def test_train_batch_reports_steps(two_kinds_batch: Batch) -> None:
    kernel = Kernel("athena")
    out = train_batch(kernel, two_kinds_batch, epochs=3)
    assert out["steps"] == 3
    assert out["batch_size"] == len(two_kinds_batch)
    assert out["loss"] < np.log(2)
    empty = train_batch(kernel, Batch.empty())
    assert empty["steps"] == 0
    assert empty["batch_size"] == 0


def test_holdout_split_is_seeded_and_disjoint(two_kinds_batch: Batch) -> None:
    train, hold = split_holdout(two_kinds_batch, seed=4)
    _train2, hold2 = split_holdout(two_kinds_batch, seed=4)
    np.testing.assert_array_equal(hold.basins, hold2.basins)
    assert len(train) + len(hold) == len(two_kinds_batch)
    assert len(hold) == round(0.2 * len(two_kinds_batch))
    _, other = split_holdout(two_kinds_batch, seed=5)
    assert not np.array_equal(hold.basins, other.basins)


def test_consolidation_improves_and_is_kept(two_kinds_batch: Batch) -> None:
    kernel = Kernel("athena")
    before = kernel.predict_many(two_kinds_batch.basins).p_success.copy()
    result = consolidate(kernel, Batch.empty(), two_kinds_batch, seed=0)
    assert result.kept
    assert result.kernel is not kernel
    assert result.holdout_after < result.holdout_before
    assert result.steps > 0
    # The original kernel is untouched.
    np.testing.assert_array_equal(kernel.predict_many(two_kinds_batch.basins).p_success, before)
    assert kernel.step_count == 0


def test_consolidation_that_hurts_is_rejected(two_kinds_batch: Batch) -> None:
    trained = Kernel("athena")
    trained.learn_many(two_kinds_batch, epochs=40)
    # A curriculum that says the opposite, heavily weighted, must not survive the holdout.
    flipped = Batch(
        two_kinds_batch.basins,
        -two_kinds_batch.rewards,
        ~two_kinds_batch.successes,
        np.full(len(two_kinds_batch), 50.0),
    )
    result = consolidate(trained, flipped, two_kinds_batch, seed=0)
    assert not result.kept
    assert result.kernel is trained
    assert result.holdout_after > result.holdout_before


def test_consolidation_without_outcomes_keeps_the_curriculum(two_kinds_batch: Batch) -> None:
    result = consolidate(Kernel("athena"), two_kinds_batch, Batch.empty())
    assert result.kept
    assert np.isnan(result.holdout_before)
    assert log_loss(result.kernel, two_kinds_batch) < np.log(2)
