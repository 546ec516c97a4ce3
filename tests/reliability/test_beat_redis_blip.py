"""Regression: a Redis restart must not end the Beat process (and with it every job,
the outbox sweep included). redbeat's lock renewal raised through Beat's loop before."""

from __future__ import annotations

import time

import pytest
from benchmarks.scenarios.base import FAST_ENV

from pantheon.testing import Stack

pytestmark = [pytest.mark.reliability, pytest.mark.e2e]


def _sends(text: str) -> int:
    return text.count("beat: sending")


def test_beat_outlives_a_redis_restart_and_keeps_sending(stack: Stack) -> None:
    stack.new_database()
    beat = stack.beat(dict(FAST_ENV), name="beat-blip")
    try:
        deadline = time.monotonic() + 30
        while _sends(beat.log_text()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        before = _sends(beat.log_text())
        assert before >= 2, beat.log_text()[-2000:]
        stack.own_redis().stop()
        time.sleep(5)
        stack.own_redis().start()
        deadline = time.monotonic() + 30
        while _sends(beat.log_text()) < before + 3 and time.monotonic() < deadline:
            assert beat.alive(), beat.log_text()[-3000:]
            time.sleep(0.5)
        assert beat.alive(), beat.log_text()[-3000:]
        assert _sends(beat.log_text()) >= before + 3, beat.log_text()[-3000:]
    finally:
        beat.stop()
