"""The encode gate: a bound on concurrent encodes, FIFO, one encode per in-flight prompt,
and the same basins as without it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import ValidationError

from pantheon.config import available_cpus
from pantheon.learning import coordizer
from pantheon.store.basins import encode_basins
from pantheon.training.encoding import BasinCache, EncodeGate, encode_prompts

pytestmark = pytest.mark.unit

FRESH = [f"fresh prompt {i}: how do tidal forces shape moon number {i}?" for i in range(16)]


class Spy:
    """Wraps ``coordize_many``: counts concurrent entries and the texts it encodes."""

    def __init__(self, pause: float = 0.05, fail: bool = False) -> None:
        self.real = coordizer.coordize_many
        self.pause = pause
        self.fail = fail
        self.lock = threading.Lock()
        self.inside = 0
        self.peak = 0
        self.texts: list[str] = []

    def __call__(self, texts: Iterable[str], threads: int = 1) -> NDArray[np.float64]:
        items = list(texts)
        with self.lock:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self.texts.extend(items)
        try:
            time.sleep(self.pause)
            if self.fail:
                raise RuntimeError("encoder failed")
            return self.real(items, threads)
        finally:
            with self.lock:
                self.inside -= 1


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    s = Spy()
    monkeypatch.setattr(coordizer, "coordize_many", s)
    return s


def _route_all(cache: BasinCache, prompts: list[str], workers: int) -> list[bytes]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [b[0] for b in pool.map(lambda p: encode_prompts([p], cache), prompts)]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_gate_bounds_concurrent_encodes(spy: Spy, limit: int) -> None:
    cache = BasinCache(64, EncodeGate(limit))
    _route_all(cache, FRESH, workers=16)
    assert spy.peak == limit  # never above the limit, and the limit is used
    assert sorted(spy.texts) == sorted(FRESH)  # each prompt encoded once


def test_unbounded_gate_lets_every_encode_run(spy: Spy) -> None:
    cache = BasinCache(64, EncodeGate(0))
    _route_all(cache, FRESH[:8], workers=8)
    assert spy.peak > 2  # 8 threads, 50 ms each: they overlap


def test_gated_basins_equal_ungated(spy: Spy) -> None:
    gated = _route_all(BasinCache(64, EncodeGate(1)), FRESH, workers=16)
    spy.pause = 0.0
    plain = encode_prompts(FRESH)
    assert gated == plain  # bit-identical blobs
    assert gated == encode_basins(coordizer.compute_many(FRESH))  # straight from the engine


def test_concurrent_requests_for_one_prompt_share_one_encode(spy: Spy) -> None:
    spy.pause = 0.3  # every thread claims while the first encode runs
    gate = EncodeGate(2)
    cache = BasinCache(64, gate)
    blobs = _route_all(cache, [FRESH[0]] * 8, workers=8)
    assert spy.texts == [FRESH[0]]
    assert len(set(blobs)) == 1
    assert gate.shared == 7


def test_shared_encode_without_cache_still_answers(spy: Spy) -> None:
    spy.pause = 0.2
    cache = BasinCache(0, EncodeGate(1))  # no LRU: the flight alone carries the blob
    blobs = _route_all(cache, [FRESH[1]] * 4, workers=4)
    assert len(set(blobs)) == 1
    assert spy.texts == [FRESH[1]]


def test_an_encode_error_reaches_the_waiters_and_is_not_kept(spy: Spy) -> None:
    spy.pause, spy.fail = 0.2, True
    cache = BasinCache(64, EncodeGate(2))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(encode_prompts, [FRESH[2]], cache) for _ in range(3)]
        errors = [f.exception() for f in futures]
    assert all(isinstance(e, RuntimeError) for e in errors)
    assert spy.texts == [FRESH[2]]
    spy.fail, spy.pause = False, 0.0
    assert encode_prompts([FRESH[2]], cache)  # the next request encodes again
    assert cache.gate is not None
    assert cache.gate.running == 0


def test_waiters_get_slots_in_arrival_order() -> None:
    gate = EncodeGate(1)
    order: list[int] = []
    held = threading.Event()
    go = threading.Event()

    def first() -> None:
        with gate.slot():
            held.set()
            go.wait()

    def later(i: int) -> None:
        with gate.slot():
            order.append(i)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    held.wait()
    for i in range(5):
        t = threading.Thread(target=later, args=(i,))
        t.start()
        threads.append(t)
        while gate.waiting < i + 1:  # queued before the next one arrives
            time.sleep(0.001)
    go.set()
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]
    assert gate.running == 0


def test_the_service_gates_its_cache_with_the_setting(make_service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PANTHEON_ENCODE_CONCURRENCY", raising=False)
    svc = make_service()
    assert svc.basin_cache.gate is not None
    assert svc.basin_cache.gate.limit == available_cpus() >= 1  # default: the CPUs we may use
    assert make_service(encode_concurrency=0).basin_cache.gate.limit == 0  # unbounded


def test_the_setting_rejects_a_negative_limit(make_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        make_settings(encode_concurrency=-1)
