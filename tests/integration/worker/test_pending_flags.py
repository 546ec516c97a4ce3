"""The per-god pending flags on a real Redis: one owner at a time, cleared or expired."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from pantheon.worker.coalesce import PendingFlags, pending_key

pytestmark = pytest.mark.integration


def test_flags_on_redis(make_settings: Any, redis_url: str) -> None:
    settings = make_settings(redis_url=redis_url, train_dispatch_coalesce_seconds=0.3)
    web, worker = PendingFlags(settings), PendingFlags(settings)  # two processes' views
    assert web.claim("zeus", "t1") is None
    assert web.claim("zeus", "t2") == "t1"
    ttl_ms = redis.Redis.from_url(redis_url).pttl(pending_key("zeus"))
    assert 0 < ttl_ms <= 300
    worker.clear("zeus")
    assert web.claim("zeus", "t3") is None
    time.sleep(0.4)  # a flag whose task was lost expires on its own
    assert web.claim("zeus", "t4") is None
    assert web.claim("athena", "t5") is None
