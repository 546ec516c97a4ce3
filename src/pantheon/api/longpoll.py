"""Long-polls that cost no request thread: ``GET /api/tasks/{id}?timeout=``.

A waiting request sleeps on the event loop and looks the task up every ``POLL_SECONDS``;
each look-up is a short call run in its own small thread limiter, never in the thread pool
that the synchronous routes (``/api/health`` among them) run in. Waits are capped
(``PANTHEON_TASK_WAIT_MAX``) and so is the number of requests waiting at once
(``PANTHEON_MAX_TASK_WAITERS``): beyond it a request is answered at once, without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import anyio
from anyio import CapacityLimiter

POLL_SECONDS = 0.25
#: Threads for task look-ups (a look-up is one result-backend read, bounded in time).
LOOKUP_THREADS = 4

Lookup = Callable[[], dict[str, Any]]


class WaitGate:
    """Counts long-polls waiting now; refuses a new wait beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.waiting = 0
        self.lookups = CapacityLimiter(LOOKUP_THREADS)

    def try_enter(self) -> bool:
        # Single event loop: no lock needed between the check and the increment.
        if self.waiting >= self.limit:
            return False
        self.waiting += 1
        return True

    def leave(self) -> None:
        self.waiting -= 1

    async def lookup(self, fn: Lookup) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(fn, limiter=self.lookups)

    async def wait(
        self, fn: Lookup, ready: Callable[[dict[str, Any]], bool], seconds: float
    ) -> dict[str, Any]:
        """Look up once; then, if not ready and a waiting slot is free, poll until ready
        or ``seconds`` have passed."""
        found = await self.lookup(fn)
        if seconds <= 0 or ready(found) or not self.try_enter():
            return found
        try:
            deadline = time.monotonic() + seconds
            while not ready(found):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await asyncio.sleep(min(POLL_SECONDS, left))
                found = await self.lookup(fn)
        finally:
            self.leave()
        return found
