"""A per-process bound on concurrent prompt encodes, and one encode per in-flight prompt.

The web runs sync endpoints in a thread pool, so N concurrent routes of fresh prompts
would run N encoder runs at once on a machine with a few cores: each run needs its own
buffers, the process keeps that memory after the burst (its RSS grows with N, measured in
``docs/CAPACITY.md``, web memory), and every route slows down by sharing the cores.

:class:`EncodeGate` lets at most ``limit`` encodes run at once; the others wait in
arrival order (a released slot is handed to the oldest waiter, so a newcomer cannot
overtake). ``limit`` 0 means unbounded. Two requests for the same prompt while its
encode runs share that encode (:meth:`EncodeGate.claim` / :meth:`EncodeGate.wait`).
Basins are a per-text deterministic function, so neither changes any result.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


class _Flight:
    """One prompt being encoded by another thread: its blob, or the error it raised."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.blob: bytes | None = None
        self.error: BaseException | None = None


class EncodeGate:
    """At most ``limit`` encodes at once (FIFO); 0 = unbounded."""

    def __init__(self, limit: int = 0) -> None:
        self.limit = max(0, int(limit))
        self._lock = threading.Lock()
        self._running = 0
        self._waiters: deque[threading.Event] = deque()
        self._flights: dict[bytes, _Flight] = {}
        self.shared = 0  # prompts answered by another thread's encode

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one encode slot for the block."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def _acquire(self) -> None:
        with self._lock:
            if not self.limit or (self._running < self.limit and not self._waiters):
                self._running += 1
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # _release counted us in before setting it

    def _release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()  # the slot passes on; _running is unchanged
            else:
                self._running -= 1

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    # -- one encode per prompt in flight ------------------------------------------------------

    def claim(self, keys: Sequence[bytes]) -> tuple[list[bytes], dict[bytes, _Flight]]:
        """Split ``keys`` into the ones this thread must encode (now registered as in
        flight: finish them with :meth:`finish`) and the ones another thread is encoding."""
        mine: list[bytes] = []
        theirs: dict[bytes, _Flight] = {}
        with self._lock:
            for key in keys:
                flight = self._flights.get(key)
                if flight is None:
                    self._flights[key] = _Flight()
                    mine.append(key)
                else:
                    theirs[key] = flight
            self.shared += len(theirs)
        return mine, theirs

    def finish(
        self, blobs: dict[bytes, bytes], keys: Sequence[bytes], error: BaseException | None
    ) -> None:
        """Publish the claimed ``keys``' blobs (or ``error``) to the threads waiting on them."""
        with self._lock:
            flights = [(key, self._flights.pop(key, None)) for key in keys]
        for key, flight in flights:
            if flight is None:
                continue
            flight.blob = blobs.get(key)
            flight.error = error
            flight.done.set()

    @staticmethod
    def wait(theirs: dict[bytes, _Flight]) -> dict[bytes, bytes]:
        """The blobs of prompts other threads were encoding (their error, if one failed)."""
        out: dict[bytes, bytes] = {}
        for key, flight in theirs.items():
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.blob is None:
                raise RuntimeError("an encode finished without a basin")
            out[key] = flight.blob
        return out
