"""Kernel kinds: parameter shapes, forward pass, gradients and Fisher terms.

Inputs are feature rows ``f = [clr(basin) · FEATURE_SCALE, 1]``: the centred log-ratio
``log b − mean(log b)`` of the basin (which recovers the coordizer's 64 linear coordinates,
see ``coordizer.to_simplex``), clipped to ±``CLR_CLIP`` so any point of the simplex (zeros
included) gives finite features, plus a bias; the ``quadratic`` kind adds their pairwise
products. Every kind has a success head (a logit) and a reward head (a pre-tanh value).
``fisher_terms`` returns the diagonal Gauss–Newton information Σ c_i (∂out_i/∂θ)² used
for the Laplace uncertainty and for Fisher-weighted blends.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .coordizer import BASIN_DIM, CLIP, TEMPERATURE

Arr = NDArray[np.float64]
Params = dict[str, Arr]
FEATURE_DIM = BASIN_DIM + 1
#: The widest centred log-ratio the coordizer's softmax can produce; beyond it is clipped.
CLR_CLIP = 2.0 * CLIP / TEMPERATURE
_LOG_FLOOR = float(np.exp(-2.0 * CLR_CLIP))
#: Centred log-ratios of coordizer basins have a standard deviation of about 1; scaled to
#: 0.25 the kernel's fixed AdamW step moves the function more gently. Measured on the
#: routing benchmark (one seed each: 80/20, two left-out-subject splits, MMLU → GSM8K):
#: scale 1 gave APGR 0.601 / 0.527 / 0.527 / 0.545, scale 0.25 0.590 / 0.631 / 0.533 / 0.525.
FEATURE_SCALE = 0.25


def features(basins: Arr) -> Arr:
    n = basins.shape[0]
    out = np.empty((n, FEATURE_DIM), dtype=np.float64)
    # One temporary, written in place: the same operations (and numbers) as out-of-place,
    # without allocating a fresh array per operation (page faults on a 20k-row chunk).
    clr = np.maximum(basins, _LOG_FLOOR)
    np.log(clr, out=clr)
    clr -= clr.mean(axis=1, keepdims=True)
    np.clip(clr, -CLR_CLIP, CLR_CLIP, out=clr)
    np.multiply(clr, FEATURE_SCALE, out=out[:, :BASIN_DIM])
    out[:, BASIN_DIM] = 1.0
    return out


class Model(Protocol):
    def init(self, seed: int) -> Params: ...

    def forward(self, p: Params, f: Arr) -> tuple[Arr, Arr, Arr]:
        """(logit, reward pre-activation, hidden cache) for feature rows ``f``."""
        ...

    def grads(self, p: Params, f: Arr, h: Arr, d_logit: Arr, d_reward: Arr) -> Params: ...

    def fisher_terms(self, p: Params, f: Arr, h: Arr, c_logit: Arr, c_reward: Arr) -> Params: ...

    def logit_variance(self, p: Params, f: Arr, h: Arr, fisher: Params) -> Arr: ...

    def set_bias(self, p: Params, logit: float, reward: float) -> None:
        """Set the constant terms (in place): used once, from a fresh kernel's first data."""
        ...


class Logistic:
    """Logistic regression (success) and tanh-linear regression (reward) on the features."""

    def init(self, seed: int) -> Params:
        return {"w_success": np.zeros(FEATURE_DIM), "w_reward": np.zeros(FEATURE_DIM)}

    def forward(self, p: Params, f: Arr) -> tuple[Arr, Arr, Arr]:
        return f @ p["w_success"], f @ p["w_reward"], f

    def grads(self, p: Params, f: Arr, h: Arr, d_logit: Arr, d_reward: Arr) -> Params:
        return {"w_success": d_logit @ f, "w_reward": d_reward @ f}

    def fisher_terms(self, p: Params, f: Arr, h: Arr, c_logit: Arr, c_reward: Arr) -> Params:
        f2 = f * f
        return {"w_success": c_logit @ f2, "w_reward": c_reward @ f2}

    def logit_variance(self, p: Params, f: Arr, h: Arr, fisher: Params) -> Arr:
        return np.asarray((f * f) @ (1.0 / fisher["w_success"]))

    def set_bias(self, p: Params, logit: float, reward: float) -> None:
        p["w_success"][BASIN_DIM] = logit
        p["w_reward"][BASIN_DIM] = reward


#: Pairwise products of the scaled log-ratios (upper triangle, squares included).
N_PAIRS = BASIN_DIM * (BASIN_DIM + 1) // 2
QUADRATIC_DIM = FEATURE_DIM + N_PAIRS
#: The products are scaled down by this factor: AdamW moves every weight by about the
#: same step whatever its feature's size, so a smaller feature changes the function less
#: per step (the same reasoning as ``FEATURE_SCALE``).
PAIR_SCALE = 0.1
_PAIR_I, _PAIR_J = np.triu_indices(BASIN_DIM)
#: Rows expanded at once: the expansion is ~2,100 numbers a row, so large batches are
#: processed in slices to keep the working set small.
_EXPAND_ROWS = 2048


def expand(f: Arr) -> Arr:
    """Feature rows ``f`` (n, 65) → [f, PAIR_SCALE · x_i x_j for i ≤ j] (n, QUADRATIC_DIM)."""
    x = f[:, :BASIN_DIM]
    out = np.empty((f.shape[0], QUADRATIC_DIM), dtype=np.float64)
    out[:, :FEATURE_DIM] = f
    np.multiply(x[:, _PAIR_I], x[:, _PAIR_J], out=out[:, FEATURE_DIM:])
    out[:, FEATURE_DIM:] *= PAIR_SCALE
    return out


def _slices(n: int) -> range:
    return range(0, n, _EXPAND_ROWS)


class Quadratic:
    """Logistic (success) and tanh-linear (reward) heads on the features and their pairwise
    products: a second-order surface over the basin, still convex in its weights.

    The expansion is recomputed in slices where needed (the hidden cache is ``f`` itself),
    so no call holds more than ``_EXPAND_ROWS`` expanded rows."""

    def init(self, seed: int) -> Params:
        return {"w_success": np.zeros(QUADRATIC_DIM), "w_reward": np.zeros(QUADRATIC_DIM)}

    def forward(self, p: Params, f: Arr) -> tuple[Arr, Arr, Arr]:
        logit = np.empty(f.shape[0])
        reward = np.empty(f.shape[0])
        for s in _slices(f.shape[0]):
            e = expand(f[s : s + _EXPAND_ROWS])
            logit[s : s + _EXPAND_ROWS] = e @ p["w_success"]
            reward[s : s + _EXPAND_ROWS] = e @ p["w_reward"]
        return logit, reward, f

    def _weighted_sums(self, f: Arr, a: Arr, b: Arr, power: int) -> tuple[Arr, Arr]:
        sa = np.zeros(QUADRATIC_DIM)
        sb = np.zeros(QUADRATIC_DIM)
        for s in _slices(f.shape[0]):
            e = expand(f[s : s + _EXPAND_ROWS])
            if power == 2:
                e *= e
            sa += a[s : s + _EXPAND_ROWS] @ e
            sb += b[s : s + _EXPAND_ROWS] @ e
        return sa, sb

    def grads(self, p: Params, f: Arr, h: Arr, d_logit: Arr, d_reward: Arr) -> Params:
        gs, gr = self._weighted_sums(f, d_logit, d_reward, 1)
        return {"w_success": gs, "w_reward": gr}

    def fisher_terms(self, p: Params, f: Arr, h: Arr, c_logit: Arr, c_reward: Arr) -> Params:
        fs, fr = self._weighted_sums(f, c_logit, c_reward, 2)
        return {"w_success": fs, "w_reward": fr}

    def logit_variance(self, p: Params, f: Arr, h: Arr, fisher: Params) -> Arr:
        inv = 1.0 / fisher["w_success"]
        out = np.empty(f.shape[0])
        for s in _slices(f.shape[0]):
            e = expand(f[s : s + _EXPAND_ROWS])
            out[s : s + _EXPAND_ROWS] = (e * e) @ inv
        return out

    def set_bias(self, p: Params, logit: float, reward: float) -> None:
        p["w_success"][BASIN_DIM] = logit
        p["w_reward"][BASIN_DIM] = reward


#: The kernel kinds. A one-hidden-layer MLP (16 tanh units) was measured and dropped: on
#: MMLU it routed worse than the logistic kernel on every split (APGR 0.658 vs 0.680 on
#: 80/20, 0.616 vs 0.627 with 12 subjects left out; means over 3 split seeds).
MODELS: dict[str, Model] = {"logistic": Logistic(), "quadratic": Quadratic()}
