"""Knowledge transfer between kernels: evolution, breeding, cannibalism, shadow sync.

Blends are Fisher-weighted per parameter: θ = (a·D₁θ₁ + b·D₂θ₂) / (a·D₁ + b·D₂) with
a = 1 − ratio, b = ratio and D the information a side gained from data (its diagonal
Fisher minus the prior precision), so a side that has learned nothing barely moves a side
that has learned much. Inputs are never mutated: the result holds
new kernels.

Quality reported as ``phi_before`` / ``phi_after``: the target's mean confidence
``max(p, 1 − p)`` over a fixed probe set of 256 basins (seeded Dirichlet draws); 0.5 for a
fresh kernel, rising as it becomes decisive.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pantheon.errors import TransferError

from .coordizer import BASIN_DIM
from .kernel import PRIOR_PRECISION, Kernel
from .seeds import seed_int


class TransferKind(StrEnum):
    """The kinds of knowledge transfer; the values are the wire names (``transfer_type``)."""

    EVOLUTION = "evolution"
    BREEDING = "breeding"
    CANNIBALISM = "cannibalism"
    SHADOW_SYNC = "shadow_sync"


TRANSFER_KINDS: tuple[str, ...] = tuple(kind.value for kind in TransferKind)
SYNC_DIRECTIONS: tuple[str, ...] = ("to_shadow", "to_god", "bidirectional")
SHADOW_SUFFIX = "_shadow"
_EPS = 1e-9  # information floor: two fresh kernels blend by the ratio alone
#: Largest evolution noise scale. The noise std is ``mutation / sqrt(F)`` with F >= 1, so
#: 1.0 already moves an untrained weight by about one unit; beyond it mutation only
#: saturates the kernel (p pinned to 0 or 1), so it is refused.
MAX_MUTATION = 1.0


@dataclass(frozen=True)
class TransferResult:
    target: Kernel
    source: Kernel
    source_retired: bool
    report: dict[str, Any]


@lru_cache(maxsize=1)
def probe_basins() -> NDArray[np.float64]:
    rng = np.random.default_rng(seed_int("transfer-probe", 1))
    probes = rng.dirichlet(np.full(BASIN_DIM, 0.5), size=256)
    probes.setflags(write=False)
    return probes


def quality(kernel: Kernel) -> float:
    """Mean confidence max(p, 1-p) of the kernel on the fixed probe set."""
    p = kernel.predict_many(probe_basins()).p_success
    return float(np.mean(np.maximum(p, 1.0 - p)))


def blend(base: Kernel, other: Kernel, ratio: float, name: str | None = None) -> Kernel:
    """A copy of ``base`` moved toward ``other`` by ``ratio``, weighted by learned information.

    Weights are the Fisher information each side gained from data (its Fisher minus the
    prior precision), so a fresh side has weight ~0 and never dilutes a trained one; two
    fresh sides blend by ``ratio`` alone.
    """
    out = base.copy(name)
    params: dict[str, NDArray[np.float64]] = {}
    fisher: dict[str, NDArray[np.float64]] = {}
    for k in base.params:
        da = np.maximum(base.fisher_of(k) - PRIOR_PRECISION, 0.0)
        db = np.maximum(other.fisher_of(k) - PRIOR_PRECISION, 0.0)
        wa, wb = (1.0 - ratio) * (da + _EPS), ratio * (db + _EPS)
        params[k] = (wa * base.params[k] + wb * other.params[k]) / np.maximum(wa + wb, 1e-300)
        fisher[k] = PRIOR_PRECISION + (1.0 - ratio) * da + ratio * db
    out.set_state(params, fisher)
    return out


def _mutate(kernel: Kernel, scale: float) -> None:
    """Seeded Gaussian noise of std ``scale / sqrt(F)``: less noise where more is known."""
    rng = np.random.default_rng(seed_int("mutation", kernel.name, kernel.seed, kernel.step_count))
    params = {
        k: v + rng.normal(0.0, 1.0, size=v.shape) * scale / np.sqrt(kernel.fisher_of(k))
        for k, v in kernel.params.items()
    }
    kernel.set_state(params, {k: kernel.fisher_of(k) for k in kernel.params})


def _check(source: Kernel, target: Kernel, ratio: float) -> float:
    if not isinstance(source, Kernel) or not isinstance(target, Kernel):
        raise TransferError("source and target must be kernels")
    if source is target or source.name == target.name:
        raise TransferError(f"cannot transfer kernel {source.name!r} into itself")
    if source.kind != target.kind:
        raise TransferError(f"kernel kinds differ: {source.kind} vs {target.kind}")
    try:
        r = float(ratio)
    except (TypeError, ValueError) as exc:
        raise TransferError(f"blend ratio must be a number, got {ratio!r}") from exc
    if not 0.0 <= r <= 1.0:
        raise TransferError(f"blend ratio must lie in [0, 1], got {ratio!r}")
    return r


def transfer(
    kind: str, source: Kernel, target: Kernel, ratio: float, **extra: Any
) -> TransferResult:
    """Move knowledge from ``source`` into ``target``; see the module docstring.

    extra: ``mutation`` (evolution; noise scale, default 0), ``partner`` (breeding; a
    Kernel), ``keep_source`` (cannibalism; default False), ``direction`` (shadow_sync).
    """
    if kind not in TRANSFER_KINDS:
        raise TransferError(f"unknown transfer kind {kind!r}; known: {', '.join(TRANSFER_KINDS)}")
    r = _check(source, target, ratio)
    phi_before = quality(target)
    new_source = source.copy()
    retired = False
    if kind == "evolution":
        new_target = blend(target, source, r)
        try:
            scale = float(extra.get("mutation", 0.0))
        except (TypeError, ValueError) as exc:
            raise TransferError("mutation scale must be a number") from exc
        if not np.isfinite(scale) or not 0.0 <= scale <= MAX_MUTATION:
            raise TransferError(f"mutation scale must be a number in [0, {MAX_MUTATION:g}]")
        if scale > 0:
            _mutate(new_target, scale)
    elif kind == "breeding":
        partner = extra.get("partner")
        if not isinstance(partner, Kernel):
            raise TransferError("breeding needs extra['partner'], a Kernel")
        if partner is source or partner.name == source.name:
            raise TransferError("breeding needs two different parents")
        _check(partner, target, r)
        # Child of the two parents (source weighted by ratio, partner by 1 - ratio), kept
        # under the target's identity (name, seed, step count).
        child = blend(partner, source, r)
        new_target = target.copy()
        new_target.set_state(child.params, {k: child.fisher_of(k) for k in child.params})
    elif kind == "cannibalism":
        new_target = blend(target, source, r)
        retired = not bool(extra.get("keep_source", False))
    else:
        direction = extra.get("direction", "to_shadow")
        if direction not in SYNC_DIRECTIONS:
            raise TransferError(
                f"shadow_sync direction must be one of {', '.join(SYNC_DIRECTIONS)}, "
                f"got {direction!r}"
            )
        if target.name != source.name + SHADOW_SUFFIX:
            raise TransferError(
                f"shadow_sync pairs a god with its shadow: {source.name!r} → "
                f"{source.name + SHADOW_SUFFIX!r}, got {target.name!r}"
            )
        new_target = blend(target, source, r) if direction != "to_god" else target.copy()
        if direction != "to_shadow":
            new_source = blend(source, target, r)
    report = {
        "transfer_type": kind,
        "source_id": source.name,
        "target_id": target.name,
        "blend_ratio": r,
        "phi_before": phi_before,
        "phi_after": quality(new_target),
    }
    return TransferResult(new_target, new_source, retired, report)
