"""The kernel kinds: parameter shapes, forward pass, gradients and Fisher terms.

Inputs are feature rows ``f = [8·sqrt(basin) − 1, 1]`` (the Hellinger embedding, centred on
the uniform point, plus a bias). Every kind has a success head (a logit) and a reward head
(a pre-tanh value). ``fisher_terms`` returns the diagonal Gauss–Newton information
Σ c_i (∂out_i/∂θ)² used for the Laplace uncertainty and for Fisher-weighted blends.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .coordizer import BASIN_DIM

Arr = NDArray[np.float64]
Params = dict[str, Arr]
FEATURE_DIM = BASIN_DIM + 1
MLP_HIDDEN = 16


def features(basins: Arr) -> Arr:
    n = basins.shape[0]
    out = np.empty((n, FEATURE_DIM), dtype=np.float64)
    np.sqrt(basins, out=out[:, :BASIN_DIM])
    out[:, :BASIN_DIM] *= 8.0
    out[:, :BASIN_DIM] -= 1.0
    out[:, BASIN_DIM] = 1.0
    return out


def seed_int(*parts: object) -> int:
    """A 64-bit seed from a sha256 of the parts (stable across processes, unlike hash())."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


class Model(Protocol):
    def init(self, seed: int) -> Params: ...

    def forward(self, p: Params, f: Arr) -> tuple[Arr, Arr, Arr]:
        """(logit, reward pre-activation, hidden cache) for feature rows ``f``."""
        ...

    def grads(self, p: Params, f: Arr, h: Arr, d_logit: Arr, d_reward: Arr) -> Params: ...

    def fisher_terms(self, p: Params, f: Arr, h: Arr, c_logit: Arr, c_reward: Arr) -> Params: ...

    def logit_variance(self, p: Params, f: Arr, h: Arr, fisher: Params) -> Arr: ...


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


class Mlp:
    """One tanh hidden layer shared by both heads.

    The hidden layer starts from a seed that depends on the pantheon seed only (not the
    kernel name), so all kernels of a pantheon share one parameterisation and blends
    between them stay meaningful.
    """

    def init(self, seed: int) -> Params:
        rng = np.random.default_rng(seed_int("mlp-init", seed))
        w1 = rng.normal(0.0, 1.0 / np.sqrt(FEATURE_DIM), size=(MLP_HIDDEN, FEATURE_DIM))
        return {
            "w_hidden": w1,
            "w_success": np.zeros(MLP_HIDDEN + 1),
            "w_reward": np.zeros(MLP_HIDDEN + 1),
        }

    @staticmethod
    def _hidden(p: Params, f: Arr) -> Arr:
        h = np.ones((f.shape[0], MLP_HIDDEN + 1))
        np.tanh(f @ p["w_hidden"].T, out=h[:, :MLP_HIDDEN])
        return h

    def forward(self, p: Params, f: Arr) -> tuple[Arr, Arr, Arr]:
        h = self._hidden(p, f)
        return h @ p["w_success"], h @ p["w_reward"], h

    def grads(self, p: Params, f: Arr, h: Arr, d_logit: Arr, d_reward: Arr) -> Params:
        slope = 1.0 - h[:, :MLP_HIDDEN] ** 2
        d_hidden = (
            np.outer(d_logit, p["w_success"][:MLP_HIDDEN])
            + np.outer(d_reward, p["w_reward"][:MLP_HIDDEN])
        ) * slope
        return {
            "w_hidden": d_hidden.T @ f,
            "w_success": d_logit @ h,
            "w_reward": d_reward @ h,
        }

    def fisher_terms(self, p: Params, f: Arr, h: Arr, c_logit: Arr, c_reward: Arr) -> Params:
        slope = 1.0 - h[:, :MLP_HIDDEN] ** 2
        a_s = (p["w_success"][:MLP_HIDDEN] * slope) ** 2
        a_r = (p["w_reward"][:MLP_HIDDEN] * slope) ** 2
        h2, f2 = h * h, f * f
        return {
            "w_hidden": (c_logit[:, None] * a_s + c_reward[:, None] * a_r).T @ f2,
            "w_success": c_logit @ h2,
            "w_reward": c_reward @ h2,
        }

    def logit_variance(self, p: Params, f: Arr, h: Arr, fisher: Params) -> Arr:
        slope = 1.0 - h[:, :MLP_HIDDEN] ** 2
        a2 = (p["w_success"][:MLP_HIDDEN] * slope) ** 2
        hidden_part = np.sum(a2 * ((f * f) @ (1.0 / fisher["w_hidden"]).T), axis=1)
        return np.asarray((h * h) @ (1.0 / fisher["w_success"]) + hidden_part)


MODELS: dict[str, Model] = {"logistic": Logistic(), "mlp": Mlp()}
