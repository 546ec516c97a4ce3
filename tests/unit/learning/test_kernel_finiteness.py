"""No input can leave a kernel non-finite, out of range or saturated (issue 14, item 5).

Every path that writes a kernel is attacked: training steps, transfers (mutation, blends),
``set_state``, ``from_state_dict`` and checkpoint bytes. A refused write keeps the state
the kernel had; an accepted one keeps every number finite and every p strictly in (0, 1).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pantheon.errors import CheckpointError, PantheonError, TransferError, ValidationError
from pantheon.learning import checkpoint
from pantheon.learning.batch import Batch
from pantheon.learning.kernel import WEIGHT_BOUND, Kernel
from pantheon.learning.transfer import probe_basins, transfer
from tests.fuzz_profiles import count, examples

pytestmark = pytest.mark.unit

EXTREME = [1e308, -1e308, 1e10, -1e10, 1e3, 5e-324, 0.0, math.inf, -math.inf, math.nan]


def trained(name: str = "zeus", n: int = 40, seed: int = 0) -> Kernel:
    rng = np.random.default_rng(seed)
    kernel = Kernel(name)
    kernel.learn_many(
        Batch(rng.dirichlet(np.ones(64), n), rng.uniform(-1, 1, n), rng.random(n) < 0.5)
    )
    return kernel


def assert_sane(kernel: Kernel) -> None:
    state = kernel.state_dict()
    for key, arr in state["arrays"].items():
        assert np.all(np.isfinite(arr)), key
    assert np.all(np.abs(np.concatenate([v.ravel() for v in kernel.params.values()])) <= 50.0)
    assert kernel.step_count >= 0
    p = kernel.predict_many(probe_basins()).p_success
    assert np.all(np.isfinite(p))
    assert np.all((p > 0.0) & (p < 1.0)), "p saturated to exactly 0 or 1"


def same_state(a: Kernel, b: Kernel) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa["meta"] == sb["meta"] and all(
        np.array_equal(sa["arrays"][k], sb["arrays"][k]) for k in sa["arrays"]
    )


@pytest.mark.parametrize("mutation", [1e308, 1e10, 1e3, 1.5])
def test_mutation_beyond_the_bound_is_refused(mutation: float) -> None:
    source, target = trained("zeus"), trained("athena", seed=1)
    before = target.copy()
    with pytest.raises(TransferError, match="mutation"):
        transfer("evolution", source, target, 0.5, mutation=mutation)
    assert same_state(target, before)


def test_mutation_at_the_bound_keeps_p_strictly_inside() -> None:
    result = transfer("evolution", trained("zeus"), trained("athena", seed=1), 0.5, mutation=1.0)
    assert_sane(result.target)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_set_state_refuses_non_finite_and_keeps_the_state(bad: float) -> None:
    kernel = trained()
    before = kernel.copy()
    params = {k: v.copy() for k, v in kernel.params.items()}
    params["w_success"][3] = bad
    with pytest.raises(ValidationError):
        kernel.set_state(params, {k: kernel.fisher_of(k) for k in kernel.params})
    assert same_state(kernel, before)


def test_set_state_clips_huge_finite_weights() -> None:
    kernel = trained()
    params = {k: np.full_like(v, 1e10) for k, v in kernel.params.items()}
    kernel.set_state(params, {k: kernel.fisher_of(k) for k in kernel.params})
    assert float(np.max(kernel.params["w_success"])) == WEIGHT_BOUND
    assert_sane(kernel)


def test_a_step_that_would_overflow_is_refused_and_changes_nothing() -> None:
    kernel = trained()
    before = kernel.copy()
    rows = np.random.default_rng(1).dirichlet(np.ones(64), 4)
    huge = Batch(rows, [0.5] * 4, [True] * 4, [1e308] * 4)  # the total weight overflows
    with pytest.raises(ValidationError):
        kernel.learn_many(huge)
    assert same_state(kernel, before)
    with pytest.raises(ValidationError):
        kernel.step(huge)
    assert same_state(kernel, before)


def test_basins_off_the_simplex_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        Batch(np.full((2, 64), 1e200), [0.0, 0.0], [True, False])


@pytest.mark.parametrize(("field", "value"), [("step_count", -5), ("outcomes_seen", -1)])
def test_state_with_a_negative_count_is_refused(field: str, value: int) -> None:
    state = trained().state_dict()
    state["meta"][field] = value
    with pytest.raises(ValidationError):
        Kernel.from_state_dict(state)


def test_state_with_non_finite_running_figures_is_refused() -> None:
    state = trained().state_dict()
    state["meta"]["running_reward"] = math.inf
    with pytest.raises(ValidationError):
        Kernel.from_state_dict(state)


def test_a_crafted_checkpoint_with_a_negative_step_count_is_refused() -> None:
    kernel = trained()
    kernel.step_count = -5  # written past the guards, as a crafted file would be
    blob = checkpoint.dumps(kernel)  # its sha256 matches its arrays
    with pytest.raises(CheckpointError):
        checkpoint.loads(blob)


def test_a_crafted_checkpoint_with_saturating_weights_is_refused() -> None:
    kernel = trained()
    kernel.params["w_success"][:] = 1e6  # past the guards, as a crafted file would be
    with pytest.raises(CheckpointError):
        checkpoint.loads(checkpoint.dumps(kernel))


# --- the property: no sequence of writes leaves a kernel non-finite -------------------
finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(EXTREME),
)
basin_rows = st.lists(
    st.lists(
        st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 1e10, 1e200, 1e308])),
        min_size=64,
        max_size=64,
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def operations(draw: Any) -> list[tuple[str, Any]]:
    ops: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["learn", "transfer", "set_state", "load"]))
        if kind == "learn":
            rows = draw(basin_rows)
            n = len(rows)
            ops.append(
                (
                    kind,
                    (
                        rows,
                        draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n)),
                        draw(st.lists(st.booleans(), min_size=n, max_size=n)),
                        draw(st.lists(finite_or_not, min_size=n, max_size=n)),
                        draw(st.integers(1, 3)),
                    ),
                )
            )
        elif kind == "transfer":
            ops.append(
                (
                    kind,
                    (
                        draw(st.sampled_from(["evolution", "breeding", "cannibalism"])),
                        draw(finite_or_not),
                        draw(finite_or_not),
                    ),
                )
            )
        elif kind == "set_state":
            ops.append((kind, (draw(finite_or_not), draw(finite_or_not), draw(st.integers(0, 64)))))
        else:
            ops.append(
                (
                    kind,
                    (
                        draw(st.sampled_from(["step_count", "outcomes_seen", "running_reward"])),
                        draw(st.one_of(finite_or_not, st.integers(-(2**70), 2**70))),
                    ),
                )
            )
    return ops


def apply(kernel: Kernel, partner: Kernel, op: tuple[str, Any]) -> Kernel:
    kind, args = op
    if kind == "learn":
        rows, rewards, successes, weights, epochs = args
        kernel.learn_many(Batch(rows, rewards, successes, weights), epochs=epochs)
        return kernel
    if kind == "transfer":
        how, ratio, mutation = args
        extra: dict[str, Any] = {"mutation": mutation} if how == "evolution" else {}
        if how == "breeding":
            extra["partner"] = partner.copy("hermes")
        return transfer(how, partner, kernel, ratio, **extra).target
    if kind == "set_state":
        value, fisher, index = args
        params = {k: v.copy() for k, v in kernel.params.items()}
        params["w_success"][index] = value
        fishers = {k: kernel.fisher_of(k) for k in kernel.params}
        fishers["w_reward"][index] = fisher
        kernel.set_state(params, fishers)
        return kernel
    field, value = args
    state = kernel.state_dict()
    state["meta"][field] = value
    return Kernel.from_state_dict(state)


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
@given(ops=operations())
def test_no_sequence_of_writes_leaves_a_kernel_non_finite(ops: list[tuple[str, Any]]) -> None:
    count("kernel writes")
    kernel, partner = trained("athena", n=12), trained("zeus", n=12, seed=3)
    for op in ops:
        with contextlib.suppress(PantheonError):  # refused: still the last good kernel
            kernel = apply(kernel, partner, op)
        assert_sane(kernel)
