"""Geometry of the 64-simplex: Fisher–Rao distance, geodesic blend, Hellinger embedding."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pantheon.errors import ValidationError


def _as_basins(x: ArrayLike) -> NDArray[np.float64]:
    arr = np.array(x, dtype=np.float64)  # a copy: callers' arrays are never touched
    if not np.all(np.isfinite(arr)):
        raise ValidationError("basin coordinates must be finite")
    return np.clip(arr, 0.0, None)


def hellinger_embed(basins: ArrayLike) -> NDArray[np.float64]:
    """Square roots of basin coordinates: points of the simplex on the unit sphere."""
    return np.sqrt(_as_basins(basins))


def fisher_rao_distance(p: ArrayLike, q: ArrayLike) -> float:
    """arccos of the Bhattacharyya coefficient sum(sqrt(p*q)); 0 .. pi/2 on the simplex."""
    a, b = _as_basins(p), _as_basins(q)
    if a.shape != b.shape:
        raise ValidationError(f"basin shapes differ: {a.shape} vs {b.shape}")
    bc = float(np.sum(np.sqrt(a * b)) / np.sqrt(max(np.sum(a) * np.sum(b), 1e-300)))
    return float(np.arccos(np.clip(bc, -1.0, 1.0)))


def geodesic_blend(p: ArrayLike, q: ArrayLike, t: float) -> NDArray[np.float64]:
    """The point a fraction ``t`` along the Fisher–Rao geodesic from p to q (slerp of roots)."""
    if not 0.0 <= t <= 1.0:
        raise ValidationError(f"blend fraction must lie in [0, 1], got {t}")
    a, b = _as_basins(p), _as_basins(q)
    if a.shape != b.shape:
        raise ValidationError(f"basin shapes differ: {a.shape} vs {b.shape}")
    sa = np.sqrt(a / max(float(a.sum()), 1e-300))
    sb = np.sqrt(b / max(float(b.sum()), 1e-300))
    omega = float(np.arccos(np.clip(float(sa @ sb), -1.0, 1.0)))
    if omega < 1e-9:
        root = (1.0 - t) * sa + t * sb
    else:
        root = (np.sin((1.0 - t) * omega) * sa + np.sin(t * omega) * sb) / np.sin(omega)
    out = root * root
    return np.asarray(out / out.sum(), dtype=np.float64)
