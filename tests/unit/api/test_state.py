"""Probes: bounded in time, cached, single-flight."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pantheon.api.state import Probe, ProbeTimeoutError

pytestmark = pytest.mark.unit


def test_a_probe_caches_its_answer_for_its_ttl() -> None:
    calls: list[int] = []

    def check() -> int:
        calls.append(1)
        return len(calls)

    with ThreadPoolExecutor(2) as pool:
        probe = Probe(pool, check, ttl=3600, timeout=5)
        assert probe.get() == 1
        assert probe.get() == 1
        probe.invalidate()
        assert probe.get() == 2
    assert len(calls) == 2


def test_a_stuck_probe_times_out_and_is_not_started_twice() -> None:
    release = threading.Event()
    started: list[int] = []

    def stuck() -> bool:
        started.append(1)
        release.wait(10)
        return True

    with ThreadPoolExecutor(2) as pool:
        probe = Probe(pool, stuck, ttl=0, timeout=0.05)
        with pytest.raises(ProbeTimeoutError):
            probe.get()
        with pytest.raises(ProbeTimeoutError):
            probe.get()
        assert len(started) == 1  # the second call waited on the same attempt
        release.set()
        assert probe.get() is True


def test_a_probe_reraises_what_the_check_raised() -> None:
    def broken() -> bool:
        raise ConnectionError("refused")

    with ThreadPoolExecutor(1) as pool, pytest.raises(ConnectionError):
        Probe(pool, broken, ttl=0, timeout=1).get()
