from __future__ import annotations

import numpy as np
import pytest

from pantheon.errors import TransferError
from pantheon.learning.batch import Batch
from pantheon.learning.kernel import KERNEL_KINDS, Kernel
from pantheon.learning.transfer import TRANSFER_KINDS, quality, transfer

pytestmark = pytest.mark.unit


@pytest.fixture(params=KERNEL_KINDS)
def trained(request: pytest.FixtureRequest, two_kinds_batch: Batch) -> Kernel:
    kernel = Kernel("athena", kind=request.param)
    kernel.learn_many(two_kinds_batch, epochs=30)
    return kernel


def _state(k: Kernel) -> dict[str, np.ndarray]:
    return {key: v.copy() for key, v in k.state_dict()["arrays"].items()}


def _same(a: dict[str, np.ndarray], b: Kernel) -> bool:
    return all(np.array_equal(v, b.state_dict()["arrays"][k]) for k, v in a.items())


def test_evolution_moves_target_toward_source(trained: Kernel, probe_maths: np.ndarray) -> None:
    fresh = Kernel("hermes", kind=trained.kind)
    before_src, before_tgt = _state(trained), _state(fresh)
    result = transfer("evolution", trained, fresh, 0.5)
    assert result.report["transfer_type"] == "evolution"
    assert result.report["source_id"] == "athena"
    assert result.report["target_id"] == "hermes"
    assert result.target.name == "hermes"
    assert result.target.predict_one(probe_maths).p_success > 0.6
    assert result.report["phi_after"] >= result.report["phi_before"] == pytest.approx(0.5)
    assert not result.source_retired
    assert _same(before_src, trained)
    assert _same(before_tgt, fresh)


def test_fresh_source_does_not_dilute_a_trained_target(
    trained: Kernel, probe_maths: np.ndarray
) -> None:
    p = trained.predict_one(probe_maths).p_success
    result = transfer("evolution", Kernel("hermes", kind=trained.kind), trained, 0.5)
    assert result.target.predict_one(probe_maths).p_success == pytest.approx(p, abs=0.03)


def test_mutation_is_seeded(trained: Kernel) -> None:
    target = Kernel("hermes", kind=trained.kind)
    a = transfer("evolution", trained, target, 0.3, mutation=0.1).target
    b = transfer("evolution", trained, target, 0.3, mutation=0.1).target
    c = transfer("evolution", trained, target, 0.3).target
    np.testing.assert_array_equal(a.params["w_success"], b.params["w_success"])
    assert not np.array_equal(a.params["w_success"], c.params["w_success"])


def test_breeding_child_of_two_parents(
    trained: Kernel, probe_maths: np.ndarray, probe_poem: np.ndarray
) -> None:
    partner = Kernel("apollo", kind=trained.kind)
    result = transfer(
        "breeding", trained, Kernel("hermes", kind=trained.kind), 0.5, partner=partner
    )
    assert result.target.name == "hermes"
    child = result.target.predict_one(probe_maths).p_success
    assert child > result.target.predict_one(probe_poem).p_success
    with pytest.raises(TransferError):
        transfer("breeding", trained, Kernel("hermes", kind=trained.kind), 0.5)


def test_cannibalism_retires_source_unless_kept(trained: Kernel) -> None:
    target = Kernel("hermes", kind=trained.kind)
    assert transfer("cannibalism", trained, target, 0.7).source_retired
    assert not transfer("cannibalism", trained, target, 0.7, keep_source=True).source_retired


@pytest.mark.parametrize("direction", ["to_shadow", "to_god", "bidirectional"])
def test_shadow_sync_directions(trained: Kernel, direction: str, probe_maths: np.ndarray) -> None:
    shadow = Kernel("athena_shadow", kind=trained.kind)
    result = transfer(
        "shadow_sync",
        trained,
        shadow,
        1.0 if direction == "to_shadow" else 0.5,
        direction=direction,
    )
    god_p = trained.predict_one(probe_maths).p_success
    shadow_p = result.target.predict_one(probe_maths).p_success
    if direction == "to_god":
        assert shadow_p == pytest.approx(0.5)
        assert result.source.predict_one(probe_maths).p_success == pytest.approx(god_p, abs=0.03)
    else:
        assert shadow_p > 0.6
    assert result.report["target_id"] == "athena_shadow"


@pytest.mark.parametrize("ratio", [-0.1, 1.1, float("nan"), "half"])
def test_bad_ratio(trained: Kernel, ratio: float | str) -> None:
    with pytest.raises(TransferError):
        transfer(
            "evolution",
            trained,
            Kernel("hermes", kind=trained.kind),
            ratio,  # type: ignore[arg-type]  # a str ratio is the point of the test
        )


def test_bad_kind_self_and_pairing(trained: Kernel) -> None:
    with pytest.raises(TransferError):
        transfer("fusion", trained, Kernel("hermes", kind=trained.kind), 0.5)
    with pytest.raises(TransferError):
        transfer("evolution", trained, trained, 0.5)
    with pytest.raises(TransferError):
        transfer("evolution", trained, Kernel("athena", kind=trained.kind), 0.5)
    with pytest.raises(TransferError):
        transfer("shadow_sync", trained, Kernel("zeus_shadow", kind=trained.kind), 0.5)
    with pytest.raises(TransferError):
        transfer(
            "shadow_sync",
            trained,
            Kernel("athena_shadow", kind=trained.kind),
            0.5,
            direction="sideways",
        )


def test_kinds_listed_and_quality_of_fresh_is_half() -> None:
    assert set(TRANSFER_KINDS) == {"evolution", "breeding", "cannibalism", "shadow_sync"}
    assert quality(Kernel("zeus")) == pytest.approx(0.5)


def test_breeding_child_keeps_the_target_identity(trained: Kernel) -> None:
    target = Kernel("hermes", seed=7, kind=trained.kind)
    partner = Kernel("apollo", seed=3, kind=trained.kind)
    child = transfer("breeding", trained, target, 0.5, partner=partner).target
    assert (child.name, child.seed, child.step_count) == ("hermes", 7, 0)


@pytest.mark.parametrize("mutation", [-0.1, float("inf"), "lots"])
def test_bad_mutation_scale(trained: Kernel, mutation: float | str) -> None:
    with pytest.raises(TransferError):
        transfer("evolution", trained, Kernel("hermes", kind=trained.kind), 0.5, mutation=mutation)
