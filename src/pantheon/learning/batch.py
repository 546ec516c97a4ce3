"""Training rows and predictions as validated numpy containers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pantheon.errors import ValidationError

from .coordizer import BASIN_DIM
from .models import features


def _finite(name: str, arr: NDArray[np.float64]) -> NDArray[np.float64]:
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"{name} must be finite")
    return arr


def as_basins(basins: ArrayLike) -> NDArray[np.float64]:
    """A validated float copy of basins, shape (n, 64); a single basin becomes (1, 64)."""
    try:
        arr = np.array(basins, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"basins must be numeric: {exc}") from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != BASIN_DIM:
        raise ValidationError(f"basins must have shape (n, {BASIN_DIM}), got {arr.shape}")
    _finite("basins", arr)
    if np.any(arr < 0):
        raise ValidationError("basin coordinates must be non-negative")
    # Basins are points of the probability simplex; a coordinate above 1 can only be
    # hostile, and squaring huge ones would overflow the Fisher information.
    if np.any(arr > 1.0 + 1e-9):
        raise ValidationError("basin coordinates must lie in [0, 1]")
    return arr


def _init(
    batch: Batch,
    basins: NDArray[np.float64],
    rewards: NDArray[np.float64],
    successes: NDArray[np.bool_],
    weights: NDArray[np.float64],
) -> None:
    for name, value in (
        ("basins", basins),
        ("rewards", rewards),
        ("successes", successes),
        ("weights", weights),
    ):
        value.flags.writeable = False
        object.__setattr__(batch, name, value)


@dataclass(frozen=True)
class Batch:
    """Outcomes to learn from: basins (n, 64), rewards (n,), successes (n,), weights (n,).

    The constructor validates and copies, so a Batch never aliases its caller's arrays.
    Its arrays are read-only, so the kernel features computed from its basins
    (:meth:`features`) are computed once and stay valid however many passes read them.
    """

    basins: NDArray[np.float64]
    rewards: NDArray[np.float64]
    successes: NDArray[np.bool_]
    weights: NDArray[np.float64]

    def __init__(
        self,
        basins: ArrayLike,
        rewards: ArrayLike,
        successes: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> None:
        b = as_basins(basins) if np.size(basins) else np.zeros((0, BASIN_DIM))
        n = b.shape[0]
        r = _finite("rewards", np.array(rewards, dtype=np.float64).reshape(-1))
        try:
            s_raw = np.array(successes, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"successes must be booleans: {exc}") from exc
        if not np.all((s_raw == 0.0) | (s_raw == 1.0)):
            raise ValidationError("successes must be booleans (or 0/1)")
        w = (
            np.ones(n)
            if weights is None
            else _finite("weights", np.array(weights, dtype=np.float64).reshape(-1))
        )
        if not (r.size == s_raw.size == w.size == n):
            raise ValidationError(
                f"batch columns differ in length: {n} basins, {r.size} rewards, "
                f"{s_raw.size} successes, {w.size} weights"
            )
        if np.any(w < 0):
            raise ValidationError("weights must be non-negative")
        if np.any(np.abs(r) > 1.0):
            raise ValidationError("rewards must lie in [-1, 1]")
        _init(self, b, r, s_raw > 0.5, w)

    def __len__(self) -> int:
        return int(self.basins.shape[0])

    @classmethod
    def _trusted(
        cls,
        basins: NDArray[np.float64],
        rewards: NDArray[np.float64],
        successes: NDArray[np.bool_],
        weights: NDArray[np.float64],
    ) -> Batch:
        """A Batch from arrays already validated by another Batch (no second check)."""
        out = object.__new__(cls)
        _init(out, basins, rewards, successes, weights)
        return out

    def features(self) -> NDArray[np.float64]:
        """The kernel's feature rows of the basins (``models.features``), shape (n, 65).

        Computed on first use and kept: an hourly chunk reads them in every epoch of the
        god and its shadow and for the audit's spread, and computing them (a log of every
        coordinate) costs more than a logistic kernel's whole forward pass."""
        cached: NDArray[np.float64] | None = self.__dict__.get("_features")
        if cached is None:
            cached = features(self.basins)
            cached.flags.writeable = False
            object.__setattr__(self, "_features", cached)
        return cached

    @classmethod
    def empty(cls) -> Batch:
        return cls(np.zeros((0, BASIN_DIM)), [], [], [])

    @classmethod
    def concat(cls, *batches: Batch) -> Batch:
        parts = [b for b in batches if len(b)]
        if not parts:
            return cls.empty()
        return cls._trusted(
            np.concatenate([b.basins for b in parts]),
            np.concatenate([b.rewards for b in parts]),
            np.concatenate([b.successes for b in parts]),
            np.concatenate([b.weights for b in parts]),
        )

    def take(self, index: ArrayLike) -> Batch:
        """The rows at ``index`` (an integer array or boolean mask) as a new Batch."""
        idx = np.asarray(index)
        return Batch._trusted(
            self.basins[idx], self.rewards[idx], self.successes[idx], self.weights[idx]
        )


@dataclass(frozen=True)
class Prediction:
    """One prompt: chance of success, expected reward in [-1, 1], uncertainty (std of p)."""

    p_success: float
    expected_reward: float
    uncertainty: float


@dataclass(frozen=True)
class PredictionBatch:
    """Predictions for n prompts, each field an array of shape (n,)."""

    p_success: NDArray[np.float64]
    expected_reward: NDArray[np.float64]
    uncertainty: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.p_success.shape[0])

    def __getitem__(self, i: int) -> Prediction:
        return Prediction(
            float(self.p_success[i]), float(self.expected_reward[i]), float(self.uncertainty[i])
        )
