from __future__ import annotations

import math

import numpy as np
import pytest

from pantheon.errors import ValidationError
from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import BASIN_DIM, to_simplex
from pantheon.learning.kernel import (
    DEFAULT_KIND,
    KERNEL_KINDS,
    KERNEL_VERSION,
    Kernel,
    predict_each,
)
from pantheon.learning.models import (
    FEATURE_DIM,
    MODELS,
    PAIR_SCALE,
    QUADRATIC_DIM,
    expand,
    features,
)

pytestmark = pytest.mark.unit


@pytest.fixture(params=KERNEL_KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_fresh_kernel_predicts_half_with_high_uncertainty(
    kind: str, probe_maths: np.ndarray
) -> None:
    pred = Kernel("zeus", kind=kind).predict_one(probe_maths)
    assert pred.p_success == pytest.approx(0.5)
    assert pred.expected_reward == pytest.approx(0.0)
    assert pred.uncertainty > 0.2


def test_learning_separates_success_from_failure(
    kind: str, two_kinds_batch: Batch, probe_maths: np.ndarray, probe_poem: np.ndarray
) -> None:
    kernel = Kernel("athena", kind=kind)
    kernel.learn_many(two_kinds_batch, epochs=30)
    good, bad = kernel.predict_one(probe_maths), kernel.predict_one(probe_poem)
    assert good.p_success > 0.7 > 0.3 > bad.p_success
    assert good.expected_reward > bad.expected_reward
    assert kernel.step_count == 30
    assert kernel.outcomes_seen == len(two_kinds_batch)
    assert kernel.running_loss < math.log(2)


def test_learning_reduces_uncertainty(
    kind: str, two_kinds_batch: Batch, probe_maths: np.ndarray
) -> None:
    kernel = Kernel("athena", kind=kind)
    before = kernel.predict_one(probe_maths).uncertainty
    kernel.learn_many(two_kinds_batch, epochs=5)
    assert np.all(kernel.fisher > 0)
    assert kernel.predict_one(probe_maths).uncertainty < before


def test_learn_one_moves_prediction_toward_the_outcome(kind: str, probe_maths: np.ndarray) -> None:
    kernel = Kernel("hermes", kind=kind)
    loss = kernel.learn_one(probe_maths, reward=1.0, success=True)
    # The first outcome sets the base rate (Beta(1, 1) prior: 2/3) before the step.
    assert loss == pytest.approx(-math.log(2 / 3))
    assert kernel.predict_one(probe_maths).p_success > 0.5
    kernel2 = Kernel("hermes", kind=kind)
    kernel2.learn_one(probe_maths, reward=-1.0, success=False)
    assert kernel2.predict_one(probe_maths).p_success < 0.5


def test_inputs_are_not_mutated(kind: str, two_kinds_batch: Batch, probe_maths: np.ndarray) -> None:
    basins = two_kinds_batch.basins.copy()
    batch = Batch(basins, two_kinds_batch.rewards, two_kinds_batch.successes)
    kernel = Kernel("ares", kind=kind)
    kernel.learn_many(batch, epochs=3)
    kernel.predict_many(basins)
    probe = probe_maths.copy()
    kernel.learn_one(probe, 0.5, True)
    np.testing.assert_array_equal(basins, two_kinds_batch.basins)
    np.testing.assert_array_equal(batch.basins, two_kinds_batch.basins)
    np.testing.assert_array_equal(probe, probe_maths)


def test_batch_copies_its_inputs(two_kinds_batch: Batch) -> None:
    basins = two_kinds_batch.basins.copy()
    batch = Batch(basins, two_kinds_batch.rewards, two_kinds_batch.successes)
    basins[:] = 0.0
    assert batch.basins.sum() == pytest.approx(len(batch))


def test_clone_has_no_learned_state(
    kind: str, two_kinds_batch: Batch, probe_maths: np.ndarray
) -> None:
    kernel = Kernel("apollo", seed=3, kind=kind)
    kernel.learn_many(two_kinds_batch, epochs=5)
    fresh = kernel.clone()
    assert (fresh.name, fresh.seed, fresh.kind) == ("apollo", 3, kind)
    assert fresh.step_count == 0
    assert fresh.outcomes_seen == 0
    assert fresh.predict_one(probe_maths) == Kernel("apollo", seed=3, kind=kind).predict_one(
        probe_maths
    )


def test_copy_is_independent(kind: str, two_kinds_batch: Batch, probe_maths: np.ndarray) -> None:
    kernel = Kernel("apollo", kind=kind)
    kernel.learn_many(two_kinds_batch, epochs=3)
    twin = kernel.copy()
    assert twin.predict_one(probe_maths) == kernel.predict_one(probe_maths)
    twin.learn_many(two_kinds_batch, epochs=3)
    assert twin.predict_one(probe_maths) != kernel.predict_one(probe_maths)
    assert kernel.step_count == 3


def test_state_dict_round_trip_gives_identical_predictions(
    kind: str, two_kinds_batch: Batch
) -> None:
    kernel = Kernel("hera", kind=kind)
    kernel.learn_many(two_kinds_batch, epochs=4)
    again = Kernel.from_state_dict(kernel.state_dict())
    a, b = kernel.predict_many(two_kinds_batch.basins), again.predict_many(two_kinds_batch.basins)
    np.testing.assert_array_equal(a.p_success, b.p_success)
    np.testing.assert_array_equal(a.uncertainty, b.uncertainty)
    # Training continues identically after the round trip (optimiser state included).
    kernel.learn_many(two_kinds_batch)
    again.learn_many(two_kinds_batch)
    np.testing.assert_array_equal(kernel.fisher, again.fisher)


def test_same_seed_same_results_different_seed_different_shuffles(kind: str) -> None:
    rng = np.random.default_rng(0)
    batch = Batch(
        rng.dirichlet(np.ones(BASIN_DIM), 600), rng.uniform(-1, 1, 600), rng.random(600) < 0.5
    )
    a, b, c = Kernel("zeus", 1, kind), Kernel("zeus", 1, kind), Kernel("zeus", 2, kind)
    for k in (a, b, c):
        k.learn_many(batch, epochs=2)
    np.testing.assert_array_equal(a.fisher, b.fisher)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(kind: str, bad: float, probe_maths: np.ndarray) -> None:
    kernel = Kernel("dionysus", kind=kind)
    basin = probe_maths.copy()
    basin[3] = bad
    with pytest.raises(ValidationError):
        kernel.predict_one(basin)
    with pytest.raises(ValidationError):
        kernel.learn_one(basin, 0.5, True)
    with pytest.raises(ValidationError):
        kernel.learn_one(probe_maths, bad, True)
    with pytest.raises(ValidationError):
        kernel.learn_one(probe_maths, 0.5, True, weight=bad)
    assert kernel.step_count == 0


def test_predict_each_is_each_kernels_own_prediction(
    kind: str, two_kinds_batch: Batch, probe_maths: np.ndarray, probe_poem: np.ndarray
) -> None:
    taught = Kernel("athena", kind=kind)
    taught.learn_many(two_kinds_batch, epochs=30)
    fresh = Kernel("hermes", kind=kind)
    for probe in (probe_maths, probe_poem):
        each = predict_each([taught, fresh], probe)
        alone = [k.predict_many(probe[None, :])[0] for k in (taught, fresh)]
        assert each == alone
    assert each[0] != each[1]  # the two kernels differ, so a mix-up would show
    assert predict_each([], probe_maths) == []
    with pytest.raises(ValidationError):
        predict_each([taught], np.ones((2, BASIN_DIM)) / BASIN_DIM)
    with pytest.raises(ValidationError):
        predict_each([taught], -np.ones(BASIN_DIM))


def test_malformed_input_is_refused(kind: str) -> None:
    kernel = Kernel("dionysus", kind=kind)
    with pytest.raises(ValidationError):
        kernel.predict_many(np.ones((2, 3)))
    with pytest.raises(ValidationError):
        kernel.predict_one(-np.ones(BASIN_DIM))
    with pytest.raises(ValidationError):
        Batch(np.ones((2, BASIN_DIM)) / BASIN_DIM, [0.1], [True, False])
    with pytest.raises(ValidationError):
        Kernel("x", kind="forest")


def test_from_state_dict_rejects_wrong_shapes(kind: str) -> None:
    state = Kernel("zeus", kind=kind).state_dict()
    state["arrays"]["param.w_success"] = np.zeros(3)
    with pytest.raises(ValidationError):
        Kernel.from_state_dict(state)


def test_empty_batch_is_a_no_op(kind: str) -> None:
    kernel = Kernel("zeus", kind=kind)
    assert math.isnan(kernel.learn_many(Batch.empty()))
    assert kernel.step_count == 0


@pytest.mark.parametrize("bad", [0.5, 2.0, np.nan])
def test_successes_must_be_boolean(bad: float) -> None:
    with pytest.raises(ValidationError):
        Batch(np.ones((1, BASIN_DIM)) / BASIN_DIM, [0.1], [bad])


def test_first_batch_starts_at_the_base_rate_and_matches_the_majority(kind: str) -> None:
    # Verdicts unrelated to the basins, 80 % successes: the best a kernel can do is the
    # majority verdict, and it must not do worse.
    rng = np.random.default_rng(5)
    basins = to_simplex(rng.normal(size=(2000, 64)))  # points like the coordizer's
    y = rng.random(2000) < 0.8
    kernel = Kernel("zeus", kind=kind)
    kernel.learn_many(Batch(basins, np.where(y, 1.0, -1.0), y), epochs=2)
    test = to_simplex(rng.normal(size=(1000, 64)))
    truth = rng.random(1000) < 0.8
    p = kernel.predict_proba(test)
    assert np.mean((p >= 0.5) == truth) >= np.mean(truth) - 0.02
    assert np.mean(p) == pytest.approx(0.8, abs=0.08)


def test_first_online_step_starts_at_the_base_rate(kind: str) -> None:
    basins = to_simplex(np.random.default_rng(2).normal(size=(4, 64)))
    y = np.array([True, True, True, False])
    kernel = Kernel("apollo", kind=kind)
    kernel.step(Batch(basins, np.where(y, 1.0, -1.0), y))
    # Beta(1, 1) prior: (3 + 1) / (4 + 2), then one small gradient step.
    assert np.mean(kernel.predict_proba(basins)) == pytest.approx(4 / 6, abs=0.05)


def test_a_state_of_another_kernel_version_is_refused(kind: str, two_kinds_batch: Batch) -> None:
    kernel = Kernel("zeus", kind=kind)
    kernel.learn_many(two_kinds_batch)
    state = kernel.state_dict()
    assert state["meta"]["kernel_version"] == KERNEL_VERSION
    state["meta"]["kernel_version"] = "0"  # a version this code never wrote
    with pytest.raises(ValidationError, match="version"):
        Kernel.from_state_dict(state)


def test_a_quadratic_kernel_has_a_weight_per_product() -> None:
    assert Kernel("zeus", kind="quadratic").params["w_success"].shape == (QUADRATIC_DIM,)
    assert Kernel("zeus").kind == DEFAULT_KIND


def test_quadratic_expansion_in_slices_matches_one_pass(two_kinds_batch: Batch) -> None:
    rng = np.random.default_rng(3)
    basins = to_simplex(rng.normal(size=(5000, BASIN_DIM)))  # more rows than one slice
    model = MODELS["quadratic"]
    params = {k: rng.normal(size=v.shape) for k, v in model.init(0).items()}
    f = features(basins)
    logit, _reward, _h = model.forward(params, f)
    np.testing.assert_allclose(logit, expand(f) @ params["w_success"], rtol=1e-12, atol=1e-12)
    pairs = expand(f[:1])[0, FEATURE_DIM:]
    x = f[0, :BASIN_DIM]
    assert pairs[0] == pytest.approx(PAIR_SCALE * x[0] * x[0])
    assert pairs[1] == pytest.approx(PAIR_SCALE * x[0] * x[1])


def test_the_quadratic_kernel_learns_what_no_linear_one_can() -> None:
    # Success when two coordinates share a sign (an XOR of signs): no hyperplane separates
    # it, a surface with the product x0·x1 does.
    rng = np.random.default_rng(7)
    z = rng.normal(size=(2000, BASIN_DIM)) * 2.0
    basins = to_simplex(z)
    y = (z[:, 0] - z.mean(axis=1)) * (z[:, 1] - z.mean(axis=1)) > 0
    batch = Batch(basins, np.where(y, 0.5, -0.5), y)
    accuracy = {}
    for kind in ("logistic", "quadratic"):
        kernel = Kernel("hermes", kind=kind)
        kernel.learn_many(batch, epochs=20)
        accuracy[kind] = float(np.mean((kernel.predict_proba(basins) >= 0.5) == y))
    assert accuracy["logistic"] < 0.6
    assert accuracy["quadratic"] > 0.75
