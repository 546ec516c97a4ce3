from __future__ import annotations

import numpy as np
import pytest

from pantheon.errors import UnknownGodError, ValidationError
from pantheon.training import routing
from pantheon.training.intake import ingest
from pantheon.training.service import TrainingService
from tests.unit.training.conftest import outcome

pytestmark = pytest.mark.unit


def _teach(svc: TrainingService) -> None:
    """Athena succeeds on algebra and fails on poetry; Dionysus the other way round."""
    items = []
    for i in range(40):
        items.append(outcome("athena", i, prompt=f"solve the algebra equation {i}", success=True))
        items.append(outcome("athena", i, prompt=f"write a poem about the sea {i}", success=False))
        items.append(outcome("dionysus", i, prompt=f"write a poem about wine {i}", success=True))
        items.append(outcome("dionysus", i, prompt=f"solve the algebra problem {i}", success=False))
    ingest(svc, items)
    for god in ("athena", "dionysus"):
        for _ in range(5):
            svc.train_hourly_batch(god)
            with svc.database.session() as s:
                from pantheon.store.models import outcomes

                s.execute(outcomes.update().values(batch_processed_at=None))


def test_rank_prefers_the_god_that_succeeded(svc: TrainingService) -> None:
    _teach(svc)
    algebra = routing.rank(svc, "solve the algebra equation 7", candidates=["Athena", "dionysus"])
    poem = routing.rank(svc, "write a poem about the sea", candidates=["athena", "dionysus"])
    assert [r["god_name"] for r in algebra] == ["athena", "dionysus"]
    assert [r["god_name"] for r in poem] == ["dionysus", "athena"]
    assert set(algebra[0]) == {"god_name", "p_success", "expected_reward", "uncertainty"}


def test_default_candidates_are_active_gods(svc: TrainingService) -> None:
    ranked = routing.rank(svc, "hello")
    assert sorted(r["god_name"] for r in ranked) == sorted(svc.roster.names)
    svc.knowledge_transfer("cannibalism", "hades", "zeus", 0.5)
    assert "hades" not in {r["god_name"] for r in routing.rank(svc, "hello")}


def test_cache_follows_kernel_versions(svc: TrainingService) -> None:
    first = routing.rank(svc, "solve the algebra equation 1", candidates=["athena"])[0]
    _teach(svc)
    second = routing.rank(svc, "solve the algebra equation 1", candidates=["athena"])[0]
    assert second["p_success"] > first["p_success"]
    cache = routing.cache_for(svc)
    assert cache is routing.cache_for(svc)


def test_explore_is_seeded_and_uses_uncertainty(svc: TrainingService) -> None:
    a = routing.rank(svc, "hi", explore=True, rng=np.random.default_rng(3))
    b = routing.rank(svc, "hi", explore=True, rng=np.random.default_rng(3))
    assert [r["god_name"] for r in a] == [r["god_name"] for r in b]
    orders = {
        tuple(
            r["god_name"]
            for r in routing.rank(svc, "hi", explore=True, rng=np.random.default_rng(s))
        )
        for s in range(5)
    }
    assert len(orders) > 1  # untrained gods are equally uncertain: draws reorder them


def test_bad_input(svc: TrainingService) -> None:
    with pytest.raises(ValidationError):
        routing.rank(svc, "  ")
    with pytest.raises(UnknownGodError):
        routing.rank(svc, "hi", candidates=["odin"])
