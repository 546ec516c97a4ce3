"""Kernel kinds: parameter shapes, forward pass, gradients and Fisher terms.

Inputs are feature rows ``f = [clr(basin) · FEATURE_SCALE, 1]``: the centred log-ratio
``log b − mean(log b)`` of the basin (which recovers the coordizer's 64 linear coordinates,
see ``coordizer.to_simplex``), clipped to ±``CLR_CLIP`` so any point of the simplex (zeros
included) gives finite features, plus a bias. Every kind has a success head (a logit) and
a reward head (a pre-tanh value). ``fisher_terms`` returns the diagonal Gauss–Newton information
Σ c_i (∂out_i/∂θ)² used for the Laplace uncertainty and for Fisher-weighted blends.
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
    logb = np.log(np.maximum(basins, _LOG_FLOOR))
    clr = logb - logb.mean(axis=1, keepdims=True)
    np.clip(clr, -CLR_CLIP, CLR_CLIP, out=clr)
    out[:, :BASIN_DIM] = clr * FEATURE_SCALE
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


#: The kernel kinds. A one-hidden-layer MLP (16 tanh units) was measured and dropped: on
#: MMLU it routed worse than the logistic kernel on every split (APGR 0.658 vs 0.680 on
#: 80/20, 0.616 vs 0.627 with 12 subjects left out; means over 3 split seeds).
MODELS: dict[str, Model] = {"logistic": Logistic()}
