"""Rank the gods for a prompt by their live kernels' predictions.

Each process keeps the deserialised kernels it routes with, keyed by (name, version);
one cheap query (every kernel's version) tells which ones changed, and only those are read
again. That query runs at most once per ``PANTHEON_ROUTE_CACHE_SECONDS``: between
refreshes a route trusts the cached versions and touches no database, so routing is at
most that many seconds behind training done elsewhere; a version committed by this
process's own service is seen at once. A god without a kernel row routes with a fresh
kernel (its prior).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from pantheon.errors import ValidationError
from pantheon.learning import checkpoint
from pantheon.learning.kernel import Kernel, predict_each
from pantheon.store import kernels as kernel_rows
from pantheon.training._kernels import is_stale
from pantheon.training.encoding import current_version, route_basin

if TYPE_CHECKING:
    from pantheon.training.service import TrainingService


class RoutingCache:
    """Kernels by name with the version they were read at; refreshed on version change,
    the versions themselves re-read at most once per ``route_cache_seconds``.

    One refresh at a time (``_refresh``): when the versions expire under load, every route
    in flight misses at once. Each used to read the versions and parse the same changed
    kernels' checkpoints itself; with the worker training all the time, that was 22 % of
    the web's CPU samples in an overloaded freshness run (docs/CAPACITY.md, "Kernel reads
    on the route").
    Now one route refreshes; the others route meanwhile on the kernels last read (so a
    kernel is at most ``route_cache_seconds`` plus one refresh old), or, when some wanted
    kernel was never read, wait for the refresh.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._kernels: dict[str, tuple[int, Kernel]] = {}
        self._lock = threading.Lock()
        self._refresh = threading.Lock()
        self._clock = clock
        #: Every kernel's (version, retired) as last read, and when (``clock`` time).
        self._versions: dict[str, tuple[int, bool]] | None = None
        self._checked_at = 0.0
        self._generation = -1
        #: The coordizer version the cached kernels were judged against (stale or not).
        self._coordizer = ""

    def kernels(self, service: TrainingService, names: list[str] | None) -> dict[str, Kernel]:
        """Kernels for ``names`` (default: every roster god not retired), at most
        ``route_cache_seconds`` old."""
        return {name: kernel for name, (_v, kernel) in self.entries(service, names).items()}

    def entries(
        self, service: TrainingService, names: list[str] | None
    ) -> dict[str, tuple[int, Kernel]]:
        """Like :meth:`kernels`, each with the version it was read at (0: a fresh prior)."""
        cached = self._cached(service, names)
        if cached is not None:
            return cached
        if service.settings.route_cache_seconds <= 0:  # nothing to share: read every time
            return self._read(service, names)
        if not self._refresh.acquire(blocking=False):  # another route is refreshing
            last = self._cached(service, names, any_age=True)
            if last is not None:
                return last
            self._refresh.acquire()
        try:
            # A refresh may have ended between the first look and taking the lock.
            cached = self._cached(service, names)
            return cached if cached is not None else self._read(service, names)
        finally:
            self._refresh.release()

    def _read(
        self, service: TrainingService, names: list[str] | None
    ) -> dict[str, tuple[int, Kernel]]:
        """Read the versions, and the kernels whose version changed, from the database."""
        checked_at = self._clock()  # before the read: the age bound stays conservative
        generation = service.kernels.generation
        with service.database.session(write=False) as session:
            versions = kernel_rows.version_map(session)
            if names is None:
                names = [g for g in service.roster.names if not versions.get(g, (0, False))[1]]
            with self._lock:
                stale = [
                    n
                    for n in names
                    if n in versions and self._kernels.get(n, (None,))[0] != versions[n][0]
                ]
            fresh = kernel_rows.read_many(session, stale) if stale else {}
        out: dict[str, tuple[int, Kernel]] = {}
        with self._lock:
            for name, record in fresh.items():
                if is_stale(record):  # never mix two representations: route on the prior
                    kernel = Kernel(name, seed=service.settings.seed)
                else:
                    kernel, _meta = checkpoint.loads(record.state, expect_kernel=name)
                self._kernels[name] = (record.version, kernel)
            for name in names:
                entry = self._kernels.get(name)
                if entry is None or (name not in versions and entry[0] != 0):
                    entry = (0, Kernel(name, seed=service.settings.seed))
                    self._kernels[name] = entry
                out[name] = entry
            self._versions = dict(versions)
            self._checked_at = checked_at
            self._generation = generation
        return out

    def _cached(
        self, service: TrainingService, names: list[str] | None, *, any_age: bool = False
    ) -> dict[str, tuple[int, Kernel]] | None:
        """The kernels from memory alone while the versions are young enough (or of any
        age, with ``any_age``) and every wanted kernel was read at them; None sends the
        caller to the database."""
        ttl = service.settings.route_cache_seconds
        with self._lock:
            if self._coordizer != current_version():  # another representation: start over
                self._coordizer = current_version()
                self._kernels.clear()
                self._versions = None
            versions = self._versions
            if versions is None:
                return None
            if not any_age and (
                ttl <= 0
                or self._clock() - self._checked_at >= ttl
                # this process committed a kernel since the versions were read
                or service.kernels.generation != self._generation
            ):
                return None
            if names is None:
                names = [g for g in service.roster.names if not versions.get(g, (0, False))[1]]
            out: dict[str, tuple[int, Kernel]] = {}
            for name in names:
                entry = self._kernels.get(name)
                if entry is None or entry[0] != versions.get(name, (0, False))[0]:
                    return None  # never read at the cached version (e.g. a new candidate)
                out[name] = entry
            return out


_caches: weakref.WeakKeyDictionary[Any, RoutingCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(service: TrainingService) -> RoutingCache:
    with _caches_lock:
        cache = _caches.get(service)
        if cache is None:
            cache = _caches[service] = RoutingCache()
        return cache


def rank(
    service: TrainingService,
    prompt: str,
    candidates: list[str] | None = None,
    explore: bool = False,
    rng: np.random.Generator | None = None,
) -> list[dict[str, Any]]:
    """Gods best first: ``{god_name, p_success, expected_reward, uncertainty}``.

    ``explore`` ranks by a Thompson-like draw ``p + N(0, uncertainty)`` instead of ``p``,
    so uncertain gods get tried now and then.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError("prompt must not be empty")
    if len(prompt) > service.settings.max_prompt_chars:
        raise ValidationError(f"prompt longer than {service.settings.max_prompt_chars} characters")
    names = list(dict.fromkeys(service.god_name(c) for c in candidates)) if candidates else None
    kernels = cache_for(service).kernels(service, names)
    basin = route_basin(prompt, service.basin_cache)
    rows: list[dict[str, Any]] = []
    for name, pred in zip(kernels, predict_each(list(kernels.values()), basin), strict=True):
        rows.append(
            {
                "god_name": name,
                "p_success": float(pred.p_success),
                "expected_reward": float(pred.expected_reward),
                "uncertainty": float(pred.uncertainty),
            }
        )
    if explore:
        gen = rng or np.random.default_rng()
        draws = [r["p_success"] + gen.normal(0.0, max(r["uncertainty"], 1e-9)) for r in rows]
        order = sorted(range(len(rows)), key=lambda i: -draws[i])
    else:
        order = sorted(
            range(len(rows)), key=lambda i: (-rows[i]["p_success"], -rows[i]["expected_reward"])
        )
    return [rows[i] for i in order]
