"""Rank the gods for a prompt by their live kernels' predictions.

Each process keeps the deserialised kernels it routes with, keyed by (name, version);
one cheap query (every kernel's version) per request tells which ones changed, and only
those are read again. A god without a kernel row routes with a fresh kernel (its prior).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from pantheon.errors import ValidationError
from pantheon.learning import checkpoint
from pantheon.learning.coordizer import coordize
from pantheon.learning.kernel import Kernel
from pantheon.store import kernels as kernel_rows

if TYPE_CHECKING:
    from pantheon.training.service import TrainingService


class RoutingCache:
    """Kernels by name with the version they were read at; refreshed on version change."""

    def __init__(self) -> None:
        self._kernels: dict[str, tuple[int, Kernel]] = {}
        self._lock = threading.Lock()

    def kernels(self, service: TrainingService, names: list[str] | None) -> dict[str, Kernel]:
        """Kernels for ``names`` (default: every roster god not retired), best effort fresh."""
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
        out: dict[str, Kernel] = {}
        with self._lock:
            for name, record in fresh.items():
                kernel, _meta = checkpoint.loads(record.state, expect_kernel=name)
                self._kernels[name] = (record.version, kernel)
            for name in names:
                entry = self._kernels.get(name)
                if entry is None or (name not in versions and entry[0] != 0):
                    entry = (0, Kernel(name, seed=service.settings.seed))
                    self._kernels[name] = entry
                out[name] = entry[1]
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
    basin = coordize(prompt)
    rows: list[dict[str, Any]] = []
    for name, kernel in kernels.items():
        pred = kernel.predict_one(basin)
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
