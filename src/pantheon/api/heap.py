"""Handing the heap that large requests freed back to the operating system (glibc).

A batch intake request carries about half a megabyte of JSON per 1,000 outcomes; parsing,
validating and storing it builds a few megabytes of short-lived objects, several requests
at once. When they are freed the memory stays with the process: glibc's ``free`` gives
back only free space at the top of the heap, above ``M_TRIM_THRESHOLD``
(<https://man7.org/linux/man-pages/man3/mallopt.3.html>), and the request's chunks are
freed between longer-lived ones. So the web's RSS kept the high-water mark of the largest
burst (docs/CAPACITY.md, "Web memory: batch intake").

``malloc_trim(0)`` releases every whole free page of every arena, not only the top of
the heap (since glibc 2.8: <https://man7.org/linux/man-pages/man3/malloc_trim.3.html>).
:class:`HeapReleaseMiddleware` calls it when the last large request in flight has
finished, in a worker thread: under a sustained burst the pages stay (the next request
would fault them in again), and they go back once the burst is over. On a C library
without ``malloc_trim`` (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable
from typing import cast

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

#: A request whose declared body is at least this large counts as large: a batch of about
#: 120 outcomes; one outcome is well under a kilobyte.
LARGE_BODY_BYTES = 64 * 1024

Trim = Callable[[int], int]


def find_malloc_trim() -> Trim | None:
    """glibc's ``malloc_trim`` from the C library the process already links, if it has one."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc: there is nothing to release
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return cast(Trim, trim)


class HeapReleaseMiddleware:
    """Pure ASGI middleware: counts large requests in flight (in the event loop's thread,
    so no lock); the one that brings the count back to zero trims the heap."""

    def __init__(
        self,
        app: ASGIApp,
        trim: Trim | None = None,
        large_body_bytes: int = LARGE_BODY_BYTES,
    ) -> None:
        self.app = app
        self.trim = trim if trim is not None else find_malloc_trim()
        self.large_body_bytes = large_body_bytes
        self.in_flight = 0
        self.releases = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trim is None or scope["type"] != "http" or not self._large(scope):
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
        # Here the request's objects are gone (the route returned, the response was sent).
        if self.in_flight == 0:
            await run_in_threadpool(self._release)

    def _large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                return value.isdigit() and int(value) >= self.large_body_bytes
        return False

    def _release(self) -> None:
        assert self.trim is not None
        started = time.perf_counter()
        released = self.trim(0)
        self.releases += 1
        log.debug(
            "malloc_trim: %s in %.1f ms",
            "released" if released else "nothing to release",
            (time.perf_counter() - started) * 1000,
        )
