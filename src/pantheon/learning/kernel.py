"""A god's kernel: basin → chance of success, expected reward and uncertainty.

Training is mini-batch AdamW on the weighted log-loss (success head) plus the squared
error of ``tanh`` (reward head), with decoupled weight decay toward 0. A fresh kernel
predicts 0.5; its first training data (``step`` or ``learn_many``) set the constant
terms to that data's base rate (success rate with a Beta(1, 1) prior, and mean reward),
so predictions start at the majority verdict instead of climbing to it from 0.5 one
small step at a time (the demo's Mixtral kernel was below the majority verdict without).
Alongside, the kernel accumulates the diagonal Fisher information of what it
has seen (prior precision ``PRIOR_PRECISION`` plus Σ w·p(1−p)·(∂logit/∂θ)²): a Laplace
posterior that gives the uncertainty (std of p) and weights blends in transfers.

A kernel never holds a non-finite or out-of-range number. Every write (a training step,
``set_state`` from a transfer, ``from_state_dict`` from a checkpoint) is checked: parameters
are clipped to ±``WEIGHT_BOUND``, and a write that would leave any array non-finite (or a
Fisher entry non-positive, a second moment negative, a negative step count) is refused with
:class:`ValidationError` and the previous state is kept. Logits are clipped to
±``LOGIT_BOUND`` so a prediction is never exactly 0 or 1 (p stays within about 1e-13 of
them) and the log-loss stays finite.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pantheon.errors import ValidationError

from .batch import Batch, Prediction, PredictionBatch, as_basins
from .models import MODELS, Arr, Params, features
from .seeds import seed_int

__all__ = [
    "DEFAULT_KIND",
    "KERNEL_KINDS",
    "KERNEL_VERSION",
    "Batch",
    "Kernel",
    "KernelState",
    "Prediction",
    "PredictionBatch",
    "predict_each",
]

#: States of another version are refused (``from_state_dict``), never read as today's.
KERNEL_VERSION = "1"
KERNEL_KINDS: tuple[str, ...] = tuple(MODELS)
#: ``quadratic`` routes better on the benchmark's 80/20 split but lowered the demo's
#: held-out APGR (few training steps): ``docs/ARCHITECTURE.md``, "Routing quality".
DEFAULT_KIND = "logistic"
PRIOR_PRECISION = 1.0
LEARNING_RATE = 0.02
WEIGHT_DECAY = 1e-3
MINIBATCH = 256
MAX_STEPS_PER_EPOCH = 1024
_CHUNK_ROWS = 16_384
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8
_EMA = 0.05  # weight of the newest step in running_loss / running_reward
#: Parameters are clipped to this magnitude after every write. Trained kernels stay far
#: inside it (|w| < 10); it only stops a hostile blend or mutation from saturating p.
WEIGHT_BOUND = 50.0
#: sigmoid(±30) is 1e-13 away from 0/1: never exactly 0 or 1, log-loss always finite.
LOGIT_BOUND = 30.0
_GROUPS = ("param", "fisher", "adam_m", "adam_v")

KernelState = dict[str, Any]


def _sigmoid(z: Arr) -> Arr:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def _bounded(logit: Arr) -> Arr:
    # maximum/minimum give np.clip's numbers (NaN included) without its Python-level
    # dispatch, which cost about a tenth of a 256-row training step.
    return np.minimum(np.maximum(logit, -LOGIT_BOUND), LOGIT_BOUND)


def _check_groups(groups: dict[str, Params], step_count: int) -> None:
    """Refuse a state with a non-finite array, a non-positive Fisher entry, a negative
    second moment, a parameter beyond ``WEIGHT_BOUND`` or a negative step count."""
    for prefix, group in groups.items():
        for k, v in group.items():
            if not np.all(np.isfinite(v)):
                raise ValidationError(f"kernel state {prefix}.{k} would be non-finite; refused")
    if any(np.any(v <= 0) for v in groups["fisher"].values()):
        raise ValidationError("kernel Fisher information must be positive")
    if any(np.any(v < 0) for v in groups["adam_v"].values()):
        raise ValidationError("kernel second moments must be non-negative")
    if any(np.any(np.abs(v) > WEIGHT_BOUND) for v in groups["param"].values()):
        raise ValidationError(f"kernel parameters must lie in ±{WEIGHT_BOUND:g}")
    if step_count < 0:
        raise ValidationError(f"kernel step count must be >= 0, got {step_count}")


def _count(value: Any, name: str) -> int:
    """A non-negative integer count (bool and non-integral floats refused)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise ValidationError(f"kernel {name} must be an integer, got {value!r}")
    if value < 0:
        raise ValidationError(f"kernel {name} must be >= 0, got {value}")
    return int(value)


class Kernel:
    """One kernel per god and per shadow; deterministic given (name, seed, kind)."""

    def __init__(self, name: str, seed: int = 0, kind: str = DEFAULT_KIND) -> None:
        if kind not in MODELS:
            raise ValidationError(f"unknown kernel kind {kind!r}; known: {', '.join(MODELS)}")
        if not isinstance(name, str) or not name:
            raise ValidationError("a kernel needs a non-empty name")
        self.name = name
        self.seed = int(seed)
        self.kind = kind
        self._model = MODELS[kind]
        self.params: Params = self._model.init(self.seed)
        self._fisher: Params = {k: np.full_like(v, PRIOR_PRECISION) for k, v in self.params.items()}
        self._adam_m: Params = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._adam_v: Params = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.step_count = 0
        self.outcomes_seen = 0
        self.running_loss = math.nan
        self.running_reward = 0.0

    # -- prediction -------------------------------------------------------------------
    def predict_many(self, basins: ArrayLike) -> PredictionBatch:
        return self._predict_features(features(as_basins(basins)))

    def _predict_features(self, f: Arr) -> PredictionBatch:
        logit, zr, h = self._model.forward(self.params, f)
        p = _sigmoid(_bounded(logit))
        var = self._model.logit_variance(self.params, f, h, self._fisher)
        # As np.clip, without its Python-level dispatch (see _bounded).
        std_p = np.minimum(np.maximum(p * (1.0 - p) * np.sqrt(var), 0.0), 0.5)
        return PredictionBatch(p, np.tanh(zr), std_p)

    def predict_proba(self, basins: ArrayLike | Batch) -> NDArray[np.float64]:
        """Only the chance of success, shape (n,): the cheap path for scoring many rows.

        A :class:`Batch` is scored from its cached features (no second validation)."""
        f = basins.features() if isinstance(basins, Batch) else features(as_basins(basins))
        logit, _, _ = self._model.forward(self.params, f)
        return _sigmoid(_bounded(logit))

    def predict_one(self, basin: ArrayLike) -> Prediction:
        return predict_each([self], basin)[0]

    # -- learning ---------------------------------------------------------------------
    def step(self, batch: Batch) -> float:
        """One gradient step over all rows of ``batch``; returns its weighted mean log-loss."""
        if not isinstance(batch, Batch):
            raise ValidationError("step expects a Batch")
        if len(batch) == 0:
            return math.nan
        y = batch.successes.astype(np.float64)
        with self._transaction():
            if self.step_count == 0:
                self._init_bias(y, batch.weights, batch.rewards)
            return self._step(batch.features(), y, batch.weights, batch.rewards)

    def _groups(self) -> dict[str, Params]:
        return {
            "param": self.params,
            "fisher": self._fisher,
            "adam_m": self._adam_m,
            "adam_v": self._adam_v,
        }

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Apply a write wholly or not at all: a refused or failed write restores the state
        it started from (the arrays are small: copying them costs next to nothing)."""
        saved = {p: {k: v.copy() for k, v in g.items()} for p, g in self._groups().items()}
        scalars = (self.step_count, self.outcomes_seen, self.running_loss, self.running_reward)
        try:
            yield
            _check_groups(self._groups(), self.step_count)
            if not (math.isnan(self.running_loss) or math.isfinite(self.running_loss)):
                raise ValidationError("kernel running loss would be non-finite; refused")
            if not math.isfinite(self.running_reward):
                raise ValidationError("kernel running reward would be non-finite; refused")
        except BaseException:
            self.params, self._fisher = saved["param"], saved["fisher"]
            self._adam_m, self._adam_v = saved["adam_m"], saved["adam_v"]
            self.step_count, self.outcomes_seen, self.running_loss, self.running_reward = scalars
            raise

    def _step(self, f: Arr, y: Arr, w: Arr, r: Arr, info_scale: float = 1.0) -> float:
        total = float(w.sum())
        if total <= 0.0:
            return math.nan
        logit, zr, h = self._model.forward(self.params, f)
        logit = _bounded(logit)
        p = _sigmoid(logit)
        t = np.tanh(zr)
        loss = float(w @ (np.logaddexp(0.0, logit) - y * logit)) / total
        d_logit = w * (p - y) / total
        d_reward = w * (t - r) * (1.0 - t * t) / total
        grads = self._model.grads(self.params, f, h, d_logit, d_reward)
        # Each row's information is counted once per learn call, however many epochs.
        info = self._model.fisher_terms(
            self.params, f, h, info_scale * w * p * (1.0 - p), info_scale * w * (1.0 - t * t) ** 2
        )
        self.step_count += 1
        b1c = 1.0 - _BETA1**self.step_count
        b2c = 1.0 - _BETA2**self.step_count
        for k, g in grads.items():
            m = self._adam_m[k]
            v = self._adam_v[k]
            m *= _BETA1
            m += (1.0 - _BETA1) * g
            v *= _BETA2
            v += (1.0 - _BETA2) * g * g
            theta = self.params[k]
            theta *= 1.0 - LEARNING_RATE * WEIGHT_DECAY
            theta -= LEARNING_RATE * (m / b1c) / (np.sqrt(v / b2c) + _EPS)
            np.maximum(theta, -WEIGHT_BOUND, out=theta)
            np.minimum(theta, WEIGHT_BOUND, out=theta)
            self._fisher[k] += info[k]
        mean_reward = float(w @ r) / total
        if math.isnan(self.running_loss):
            self.running_loss, self.running_reward = loss, mean_reward
        else:
            self.running_loss += _EMA * (loss - self.running_loss)
            self.running_reward += _EMA * (mean_reward - self.running_reward)
        return loss

    def learn_many(self, batch: Batch, epochs: int = 1, batch_size: int | None = None) -> float:
        """``epochs`` shuffled passes of mini-batch steps; returns the mean step loss.

        ``batch_size`` defaults to ``MINIBATCH`` rows, grown for large batches so a pass
        takes at most ``MAX_STEPS_PER_EPOCH`` steps (the cost stays linear in rows).
        """
        if not isinstance(batch, Batch):
            raise ValidationError("learn_many expects a Batch")
        n = len(batch)
        size = batch_size or max(MINIBATCH, math.ceil(n / MAX_STEPS_PER_EPOCH))
        if epochs < 1 or size < 1:
            raise ValidationError("epochs and batch_size must be at least 1")
        if n == 0:
            return math.nan
        y_all = batch.successes.astype(np.float64)
        rng = np.random.default_rng([seed_int(self.name, self.seed), self.step_count])
        # Rows are gathered in shuffled chunks of whole mini-batches: the working set stays
        # small (cache-sized) however large the batch, so the cost per row is flat.
        chunk = size * max(1, _CHUNK_ROWS // size)
        losses: list[float] = []
        with self._transaction():
            if self.step_count == 0:
                self._init_bias(y_all, batch.weights, batch.rewards)
            self._epochs(
                batch, y_all=y_all, rng=rng, epochs=epochs, size=size, chunk=chunk, losses=losses
            )
            self.outcomes_seen += n
        return float(np.mean(losses)) if losses else math.nan

    def _epochs(
        self,
        batch: Batch,
        *,
        y_all: Arr,
        rng: np.random.Generator,
        epochs: int,
        size: int,
        chunk: int,
        losses: list[float],
    ) -> None:
        n = len(batch)
        # Feature rows are computed once per batch (row by row, so gathering them gives
        # the same numbers as computing them on the gathered basins), not once per epoch.
        f_all = batch.features()
        for _ in range(epochs):
            order = rng.permutation(n) if n > size else np.arange(n)
            for c0 in range(0, n, chunk):
                idx = order[c0 : c0 + chunk]
                f = f_all[idx]
                y, w, r = y_all[idx], batch.weights[idx], batch.rewards[idx]
                for s0 in range(0, len(idx), size):
                    s1 = s0 + size
                    loss = self._step(f[s0:s1], y[s0:s1], w[s0:s1], r[s0:s1], 1 / epochs)
                    if not math.isnan(loss):
                        losses.append(loss)

    def _init_bias(self, y: Arr, w: Arr, r: Arr) -> None:
        total = float(w.sum())
        if total <= 0.0:
            return
        rate = (float(w @ y) + 1.0) / (total + 2.0)  # never 0 or 1: a finite logit
        mean_reward = float(np.clip(float(w @ r) / total, -0.95, 0.95))
        self._model.set_bias(self.params, math.log(rate / (1.0 - rate)), math.atanh(mean_reward))

    def learn_one(
        self, basin: ArrayLike, reward: float, success: bool, weight: float = 1.0
    ) -> float:
        return self.learn_many(Batch(np.asarray(basin)[None, :], [reward], [success], [weight]))

    # -- state ------------------------------------------------------------------------
    @property
    def fisher(self) -> NDArray[np.float64]:
        """Diagonal Fisher information of every parameter, flattened (a copy)."""
        return np.concatenate([self._fisher[k].ravel() for k in sorted(self._fisher)])

    def fisher_of(self, param: str) -> NDArray[np.float64]:
        return self._fisher[param].copy()

    def clone(self) -> Kernel:
        """A fresh kernel with the same name, seed and kind, and no learned state."""
        return Kernel(self.name, self.seed, self.kind)

    def copy(self, name: str | None = None) -> Kernel:
        """An independent deep copy (learned state included), optionally renamed."""
        state = self.state_dict()
        if name is not None:
            state["meta"]["name"] = name
        return Kernel.from_state_dict(state)

    def state_dict(self) -> KernelState:
        arrays: dict[str, NDArray[np.float64]] = {}
        for prefix, group in (
            ("param", self.params),
            ("fisher", self._fisher),
            ("adam_m", self._adam_m),
            ("adam_v", self._adam_v),
        ):
            for k, v in group.items():
                arrays[f"{prefix}.{k}"] = v.copy()
        meta = {
            "name": self.name,
            "seed": self.seed,
            "kind": self.kind,
            "kernel_version": KERNEL_VERSION,
            "step_count": self.step_count,
            "outcomes_seen": self.outcomes_seen,
            "running_loss": None if math.isnan(self.running_loss) else self.running_loss,
            "running_reward": self.running_reward,
        }
        return {"arrays": arrays, "meta": meta}

    @classmethod
    def from_state_dict(cls, state: KernelState) -> Kernel:
        """Rebuild a kernel; :class:`ValidationError` if the state does not fit its kind."""
        try:
            meta = state["meta"]
            arrays = state["arrays"]
            kernel = cls(str(meta["name"]), int(meta["seed"]), str(meta["kind"]))
            if str(meta["kernel_version"]) != KERNEL_VERSION:
                raise ValidationError(f"kernel version {meta['kernel_version']!r} unsupported")
            expected = {
                f"{prefix}.{k}": v.shape
                for prefix in ("param", "fisher", "adam_m", "adam_v")
                for k, v in kernel.params.items()
            }
            if set(arrays) != set(expected):
                raise ValidationError("kernel state arrays do not match its kind")
            loaded: dict[str, NDArray[np.float64]] = {}
            for key, shape in expected.items():
                arr = np.array(arrays[key], dtype=np.float64)
                if arr.shape != shape or not np.all(np.isfinite(arr)):
                    raise ValidationError(f"kernel state array {key} is malformed")
                loaded[key] = arr
            for k in kernel.params:
                kernel.params[k] = loaded[f"param.{k}"]
                kernel._fisher[k] = loaded[f"fisher.{k}"]
                kernel._adam_m[k] = loaded[f"adam_m.{k}"]
                kernel._adam_v[k] = loaded[f"adam_v.{k}"]
            kernel.step_count = _count(meta["step_count"], "step_count")
            kernel.outcomes_seen = _count(meta["outcomes_seen"], "outcomes_seen")
            _check_groups(kernel._groups(), kernel.step_count)
            rl = meta["running_loss"]
            kernel.running_loss = math.nan if rl is None else float(rl)
            kernel.running_reward = float(meta["running_reward"])
            if not math.isfinite(kernel.running_reward) or not (
                rl is None or math.isfinite(kernel.running_loss)
            ):
                raise ValidationError("kernel running loss and reward must be finite")
        except ValidationError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValidationError(f"malformed kernel state: {exc}") from exc
        return kernel

    def set_state(self, params: Params, fisher: Params) -> None:
        """Replace parameters and Fisher information (used by transfers); copies inputs.

        Parameters are clipped to ±``WEIGHT_BOUND``; a non-finite or misshapen array, or a
        non-positive Fisher entry, is refused and the kernel keeps its state."""
        with self._transaction():
            for k in self.params:
                new_p = np.array(params[k], dtype=np.float64)
                new_f = np.array(fisher[k], dtype=np.float64)
                if new_p.shape != self.params[k].shape or new_f.shape != self._fisher[k].shape:
                    raise ValidationError(f"kernel state {k} has the wrong shape; refused")
                if not np.all(np.isfinite(new_p)):  # checked before clipping hides it
                    raise ValidationError(f"kernel state param.{k} is non-finite; refused")
                self.params[k] = np.clip(new_p, -WEIGHT_BOUND, WEIGHT_BOUND)
                self._fisher[k] = new_f

    def __repr__(self) -> str:
        return (
            f"Kernel({self.name!r}, seed={self.seed}, kind={self.kind!r}, steps={self.step_count})"
        )


def predict_each(kernels: Sequence[Kernel], basin: ArrayLike) -> list[Prediction]:
    """Each kernel's prediction for one basin, in order. The basin is validated and its
    features computed once for all of them: a route scores every god on the same basin,
    and those two steps were more than half of each god's prediction."""
    arr = np.asarray(basin)
    if arr.ndim != 1:
        raise ValidationError(f"predict_one expects one basin of shape (64,), got {arr.shape}")
    f = features(as_basins(arr))
    return [kernel._predict_features(f)[0] for kernel in kernels]
