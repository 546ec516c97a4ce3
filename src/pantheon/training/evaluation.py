"""Off-policy evaluation of routing policies on the recorded decisions.

The log is every decision with a linked outcome of the chosen god (overrides are left
out: the chat app chose those, with a probability nobody knows). For each policy the
success rate is estimated with IPS, self-normalised IPS and doubly robust estimators
(:mod:`pantheon.learning.offpolicy`, 95 % normal-approximation intervals); the reward
model of DR is the current kernels' predicted success. The expected cost per call needs
no estimate: a policy's choice probabilities and the roster's costs give it exactly.

Policies: ``logging`` (what was actually done: its estimate is the observed mean),
``greedy`` (the current kernels, best score among each decision's candidates, the
decision's own ``cost_weight``), ``always:<god>`` (that god whenever it was a candidate,
else the greedy choice) and ``random`` (uniform over the candidates).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from pantheon.learning import offpolicy
from pantheon.learning.policy import Policy, PolicyKind, probabilities
from pantheon.store import decisions as decision_rows
from pantheon.store.basins import decode_basins
from pantheon.training.routing import cache_for

if TYPE_CHECKING:
    from pantheon.training.service import TrainingService

#: Newest logged decisions evaluated at most (bounds an API call's time and memory).
DEFAULT_LIMIT = 50_000
_GREEDY = Policy(kind=PolicyKind.GREEDY)


@dataclass(frozen=True)
class PolicyEstimate:
    policy: str
    ips: offpolicy.Estimate
    snips: offpolicy.Estimate
    dr: offpolicy.Estimate
    expected_cost: float


@dataclass(frozen=True)
class EvaluationReport:
    decisions: int
    gods: list[str]
    policies: list[PolicyEstimate]
    note: str

    def policy(self, name: str) -> PolicyEstimate:
        return next(p for p in self.policies if p.policy == name)


@dataclass(frozen=True)
class LoggedArrays:
    """A log as arrays over a fixed column order of gods."""

    gods: list[str]
    actions: NDArray[np.int64]
    propensities: NDArray[np.float64]
    rewards: NDArray[np.float64]
    logged_probs: NDArray[np.float64]
    #: 1 where the god was a candidate of the decision.
    candidate_mask: NDArray[np.bool_]
    cost_weights: NDArray[np.float64]
    basins: NDArray[np.float64]
    digests: list[str]


def load_log(
    service: TrainingService, since: datetime | None = None, limit: int = DEFAULT_LIMIT
) -> LoggedArrays | None:
    with service.database.session(write=False) as session:
        rows = decision_rows.logged(session, since, limit)
    if not rows:
        return None
    gods = sorted({g for r in rows for g in r.decision.candidates})
    col = {g: j for j, g in enumerate(gods)}
    n, k = len(rows), len(gods)
    logged_probs = np.zeros((n, k))
    mask = np.zeros((n, k), dtype=bool)
    for i, r in enumerate(rows):
        for god, p in zip(r.decision.candidates, r.decision.probabilities, strict=True):
            logged_probs[i, col[god]] = p
            mask[i, col[god]] = True
    return LoggedArrays(
        gods=gods,
        actions=np.array([col[r.decision.chosen_god] for r in rows], dtype=np.int64),
        propensities=np.array([r.decision.propensity for r in rows], dtype=np.float64),
        rewards=np.array([1.0 if r.success else 0.0 for r in rows], dtype=np.float64),
        logged_probs=logged_probs,
        candidate_mask=mask,
        cost_weights=np.array(
            [float(r.decision.policy_params.get("cost_weight", 0.0)) for r in rows]
        ),
        basins=decode_basins([r.decision.basin for r in rows]),
        digests=[r.decision.prompt_sha256 for r in rows],
    )


def predicted_success(
    service: TrainingService, gods: list[str], basins: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(n, K): the current kernels' chance of success of every god on every basin."""
    kernels = cache_for(service).kernels(service, gods)
    return np.stack([kernels[g].predict_proba(basins) for g in gods], axis=1)


def greedy_probs(
    log: LoggedArrays, q: NDArray[np.float64], costs: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The greedy policy on the current predictions, among each decision's candidates."""
    scores = q - log.cost_weights[:, None] * costs[None, :]
    scores = np.where(log.candidate_mask, scores, -1e9)
    return probabilities(_GREEDY, scores) * log.candidate_mask


def target_policies(
    log: LoggedArrays, q: NDArray[np.float64], costs: NDArray[np.float64]
) -> dict[str, NDArray[np.float64]]:
    greedy = greedy_probs(log, q, costs)
    out = {"logging": log.logged_probs, "greedy": greedy}
    for j, god in enumerate(log.gods):
        one = np.zeros_like(greedy)
        one[:, j] = 1.0
        out[f"always:{god}"] = np.where(log.candidate_mask[:, [j]], one, greedy)
    mask = log.candidate_mask.astype(np.float64)
    out["random"] = mask / mask.sum(axis=1, keepdims=True)
    return out


def evaluate(
    service: TrainingService, since: datetime | None = None, limit: int = DEFAULT_LIMIT
) -> EvaluationReport:
    log = load_log(service, since, limit)
    if log is None:
        return EvaluationReport(0, [], [], "no decision has a linked outcome yet")
    q = predicted_success(service, log.gods, log.basins)
    costs = np.array([service.roster.get(g).cost_per_call for g in log.gods])
    estimates = []
    for name, pi in target_policies(log, q, costs).items():
        est = offpolicy.estimate(log.actions, log.propensities, log.rewards, pi, q)
        estimates.append(
            PolicyEstimate(
                policy=name,
                ips=est.ips,
                snips=est.snips,
                dr=est.dr,
                expected_cost=float((pi * costs[None, :]).sum(axis=1).mean()),
            )
        )
    note = (
        "success rate per policy on the logged decisions; 95% normal-approximation "
        "intervals; overrides excluded; a greedy log (propensity 1) supports only its own "
        "choices"
    )
    return EvaluationReport(int(log.actions.size), log.gods, estimates, note)
