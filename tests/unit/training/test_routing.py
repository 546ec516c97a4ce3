from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from pantheon.errors import UnknownGodError, ValidationError
from pantheon.store.models import outcomes
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
                s.execute(outcomes.update().values(batch_processed_at=None))


def test_rank_prefers_the_god_that_succeeded(svc: TrainingService) -> None:
    _teach(svc)
    algebra = routing.rank(svc, "solve the algebra equation 7", candidates=["Athena", "dionysus"])
    poem = routing.rank(svc, "write a poem about the sea", candidates=["athena", "dionysus"])
    assert [r["god_name"] for r in algebra] == ["athena", "dionysus"]
    assert [r["god_name"] for r in poem] == ["dionysus", "athena"]
    assert set(algebra[0]) == {"god_name", "p_success", "expected_reward", "uncertainty"}


def test_default_candidates_are_active_gods(make_service: Any) -> None:
    svc = make_service(route_cache_seconds=0.0)
    ranked = routing.rank(svc, "hello")
    assert sorted(r["god_name"] for r in ranked) == sorted(svc.roster.names)
    svc.knowledge_transfer("cannibalism", "hades", "zeus", 0.5)
    assert "hades" not in {r["god_name"] for r in routing.rank(svc, "hello")}


def test_cache_follows_kernel_versions(make_service: Any) -> None:
    svc = make_service(route_cache_seconds=0.0)  # versions read on every route
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


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def statements(svc: TrainingService) -> Iterator[list[str]]:
    """Every SQL statement the service's engine runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    sa.event.listen(svc.database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(svc.database.engine, "before_cursor_execute", record)


def test_routes_within_the_ttl_touch_no_database(make_service: Any) -> None:
    svc = make_service(route_cache_seconds=1.0)
    clock = FakeClock()
    cache = routing.RoutingCache(clock=clock)
    cache.kernels(svc, None)  # the first read
    with statements(svc) as seen:
        clock.now += 0.9
        kernels = cache.kernels(svc, None)
        cache.kernels(svc, ["athena", "zeus"])
    assert seen == []
    assert sorted(kernels) == sorted(svc.roster.names)


def test_versions_are_read_again_after_the_ttl(make_service: Any) -> None:
    svc = make_service(route_cache_seconds=1.0)
    clock = FakeClock()
    cache = routing.RoutingCache(clock=clock)
    before = cache.kernels(svc, ["athena"])["athena"]
    _teach(make_service())  # another process's service on the same database
    clock.now += 0.5
    assert cache.kernels(svc, ["athena"])["athena"] is before  # still trusted
    clock.now += 0.5
    with statements(svc) as seen:
        after = cache.kernels(svc, ["athena"])["athena"]
    assert seen  # the version query (and the re-read of athena's state)
    assert after is not before
    assert after.step_count > before.step_count


def test_a_zero_ttl_reads_versions_on_every_route(make_service: Any) -> None:
    svc = make_service(route_cache_seconds=0.0)
    cache = routing.RoutingCache(clock=FakeClock())
    cache.kernels(svc, None)
    with statements(svc) as seen:
        cache.kernels(svc, None)
    assert seen


def test_a_version_committed_by_this_process_is_seen_at_once(make_service: Any) -> None:
    svc = make_service(route_cache_seconds=3600.0)
    cache = routing.RoutingCache(clock=FakeClock())
    before = cache.kernels(svc, ["athena"])["athena"]
    with statements(svc) as seen:
        assert cache.kernels(svc, ["athena"])["athena"] is before
    assert seen == []
    _teach(svc)  # trains through this service: its kernel generation moves
    after = cache.kernels(svc, ["athena"])["athena"]
    assert after.step_count > before.step_count


def test_routes_that_miss_together_read_the_database_once(make_service: Any) -> None:
    svc = make_service(route_cache_seconds=1.0)
    clock = FakeClock()
    cache = routing.RoutingCache(clock=clock)
    cache.kernels(svc, None)
    _teach(make_service())  # every kernel's version moves: each refresh re-reads them all
    clock.now += 1.0
    with statements(svc) as expected:  # what one refresh reads
        routing.RoutingCache(clock=clock).kernels(svc, None)
    start = threading.Barrier(8)

    def route() -> dict[str, Any]:
        start.wait()
        return cache.kernels(svc, None)

    with statements(svc) as seen, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: route(), range(8)))
    assert len(seen) == len(expected)  # one refresh, not one per route
    assert all(sorted(a) == sorted(svc.roster.names) for a in answers)


def test_a_route_during_a_refresh_uses_the_kernels_last_read(make_service: Any) -> None:
    svc = make_service(route_cache_seconds=1.0)
    clock = FakeClock()
    cache = routing.RoutingCache(clock=clock)
    before = cache.kernels(svc, ["athena"])["athena"]
    clock.now += 5.0  # expired
    with cache._refresh, statements(svc) as seen:  # another route is refreshing
        assert cache.kernels(svc, ["athena"])["athena"] is before
    assert seen == []
    with statements(svc) as seen:
        cache.kernels(svc, ["athena"])
    assert seen  # no refresh in flight: this route reads the versions itself


def test_a_route_needing_an_unread_kernel_waits_for_the_refresh(make_service: Any) -> None:
    svc = make_service(route_cache_seconds=1.0)
    cache = routing.RoutingCache(clock=FakeClock())
    cache.kernels(svc, ["athena"])
    released = threading.Event()

    def refresh_elsewhere() -> None:
        with cache._refresh:
            time.sleep(0.2)
            released.set()

    holder = threading.Thread(target=refresh_elsewhere)
    holder.start()
    time.sleep(0.05)
    zeus = cache.kernels(svc, ["zeus"])["zeus"]  # never read: nothing old to route on
    assert released.is_set()
    holder.join()
    assert zeus.name == "zeus"
