"""The running coordizer for the service: its version, batch encoding and a prompt cache.

``coordize`` may be slow (a sentence encoder takes milliseconds per prompt), so the
service encodes only where it trains (a claim's missing basins in one ``coordize_many``
call) and routing encodes one prompt per request. :class:`BasinCache` keeps the newest
basins by prompt digest in each process (bounded, LRU): a prompt routed and then posted
as an outcome, or the same prompt sent to several gods, is encoded once per process.
A cache may carry an :class:`EncodeGate`: then at most its limit of encodes run at once
in the process, and concurrent misses of one prompt share one encode.

Why the gate: the web runs sync endpoints in a thread pool, so N concurrent routes of
fresh prompts would run N encoder runs at once on a machine with a few cores: each run
needs its own buffers, the process keeps that memory after the burst (its RSS grows with
N, measured in ``docs/CAPACITY.md``, web memory), and every route slows down by sharing
the cores. The gate lets at most ``limit`` encodes run at once; the others wait in
arrival order (a released slot is handed to the oldest waiter, so a newcomer cannot
overtake). ``limit`` 0 means unbounded. Basins are a per-text deterministic function, so
neither the gate nor the shared encode changes any result.

The coordizer module is read at call time (``coordizer.COORDIZER_VERSION``), never bound
at import, so a process always pairs a basin with the version that made it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from numpy.typing import NDArray

from pantheon.learning import coordizer
from pantheon.store.basins import Encoder, decode_basins, encode_basins


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


#: Basins cached per process when the setting is not given (~1.3 MB at 4,096).
DEFAULT_CACHE_SIZE = 4096


def current_version() -> str:
    """``COORDIZER_VERSION`` of the coordizer this process runs."""
    return str(coordizer.COORDIZER_VERSION)


def _digest(version: str, prompt: str) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    h.update(version.encode("utf-8") + b"\0")
    h.update(prompt.encode("utf-8", "surrogatepass"))
    return h.digest()


class BasinCache:
    """Basin blobs by (coordizer version, prompt) digest; at most ``size`` kept."""

    def __init__(self, size: int = DEFAULT_CACHE_SIZE, gate: EncodeGate | None = None) -> None:
        self.size = max(0, int(size))
        self.gate = gate
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str, prompt: str) -> bytes | None:
        if not self.size:
            return None
        key = _digest(version, prompt)
        with self._lock:
            blob = self._items.get(key)
            if blob is not None:
                self._items.move_to_end(key)
            return blob

    def put(self, version: str, prompt: str, blob: bytes) -> None:
        if not self.size:
            return
        key = _digest(version, prompt)
        with self._lock:
            self._items[key] = blob
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def encode_prompts(prompts: Sequence[str], cache: BasinCache | None = None) -> list[bytes]:
    """One basin blob per prompt at the current version: cached ones from ``cache``, the
    rest (each distinct prompt once) from one ``coordize_many`` call."""
    version = current_version()
    out: list[bytes | None] = [None] * len(prompts)
    todo: dict[str, list[int]] = {}
    for i, prompt in enumerate(prompts):
        blob = cache.get(version, prompt) if cache is not None else None
        if blob is None:
            todo.setdefault(prompt, []).append(i)
        else:
            out[i] = blob
    if todo:
        gate = cache.gate if cache is not None else None
        fresh = (
            _encode(version, list(todo), cache)
            if gate is None
            else _gated(version, todo, cache, gate)
        )
        for text, blob in fresh.items():
            for i in todo[text]:
                out[i] = blob
    return [b for b in out if b is not None]


def _encode(version: str, texts: list[str], cache: BasinCache | None) -> dict[str, bytes]:
    blobs = encode_basins(coordizer.coordize_many(texts))
    if cache is not None:
        for text, blob in zip(texts, blobs, strict=True):
            cache.put(version, text, blob)
    return dict(zip(texts, blobs, strict=True))


def _gated(
    version: str, todo: dict[str, list[int]], cache: BasinCache | None, gate: EncodeGate
) -> dict[str, bytes]:
    """Encode ``todo``'s prompts in one gate slot; prompts another thread is encoding now
    are taken from that encode instead."""
    by_key = {_digest(version, text): text for text in todo}
    mine, theirs = gate.claim(list(by_key))
    done: dict[bytes, bytes] = {}
    try:
        for key in mine:  # finished by another thread between our cache miss and claim
            blob = cache.get(version, by_key[key]) if cache is not None else None
            if blob is not None:
                done[key] = blob
        texts = [by_key[key] for key in mine if key not in done]
        if texts:
            with gate.slot():
                fresh = _encode(version, texts, cache)
            done.update({_digest(version, text): blob for text, blob in fresh.items()})
    except BaseException as exc:
        gate.finish({}, mine, exc)
        raise
    gate.finish(done, mine, None)
    done.update(gate.wait(theirs))
    return {by_key[key]: blob for key, blob in done.items()}


def encoder(cache: BasinCache | None = None) -> Encoder:
    """The store's view of the running coordizer (what claims fill basins with)."""
    return Encoder(version=current_version(), encode=lambda prompts: encode_prompts(prompts, cache))


def route_basin(prompt: str, cache: BasinCache | None = None) -> NDArray[np.float64]:
    """The basin of one prompt for routing (through the cache)."""
    basin: NDArray[np.float64] = decode_basins(encode_prompts([prompt], cache))[0]
    return basin


def cached_basin(prompt: str, cache: BasinCache | None) -> tuple[bytes, str] | None:
    """(blob, version) of a prompt already in the cache, else None (never encodes)."""
    if cache is None:
        return None
    version = current_version()
    blob = cache.get(version, prompt)
    return None if blob is None else (blob, version)
