"""Long-polls cannot starve the web (issue 14, item 7).

45 unauthenticated ``GET /api/tasks/<id>?timeout=15`` used to hold every request thread,
so ``/api/health`` waited for them. Now the waits are capped (``PANTHEON_TASK_WAIT_MAX``),
at most ``PANTHEON_MAX_TASK_WAITERS`` wait at once (the rest answer at once), and waiting
holds no request thread: health answers while the long-polls are still waiting.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.api.conftest import MakeClient

pytestmark = pytest.mark.integration

WAITERS = 45
WAIT_MAX = 8.0
MAX_WAITERS = 6


def test_long_polls_are_capped_and_leave_health_alone(
    make_client: MakeClient, redis_url: str
) -> None:
    client = make_client(
        task_mode="celery",
        redis_url=redis_url,
        task_wait_max=WAIT_MAX,
        max_task_waiters=MAX_WAITERS,
    )
    finished: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()

    def poll() -> int:
        resp = client.get(f"/api/tasks/{uuid.uuid4()}", params={"timeout": 15})
        with lock:
            finished.append(time.monotonic() - started)
        return resp.status_code

    with ThreadPoolExecutor(WAITERS) as pool:
        futures = [pool.submit(poll) for _ in range(WAITERS)]
        time.sleep(1.0)  # the waiters are in
        health = client.get("/api/health")
        health_done = time.monotonic() - started
        with lock:
            long_ones_done = sorted(t for t in finished if t > WAIT_MAX / 2)
        statuses = [f.result() for f in futures]
    assert health.status_code in (200, 503), health.text
    assert not long_ones_done, "a capped long-poll ended before health answered"
    assert health_done < WAIT_MAX, f"health waited {health_done:.1f}s behind the long-polls"
    assert statuses == [200] * WAITERS
    slow = [t for t in finished if t > WAIT_MAX / 2]
    assert len(slow) <= MAX_WAITERS, f"{len(slow)} requests waited; cap is {MAX_WAITERS}"
    assert max(finished) < WAIT_MAX + 5, "a long-poll waited past PANTHEON_TASK_WAIT_MAX"
