"""Routing decisions: choose a god with a known probability, record it, link its outcome.

``route`` scores every candidate (``p_success - cost_weight * cost_per_call``), lets the
policy of :mod:`pantheon.learning.policy` draw one, and records the decision with one
INSERT, committed before the answer: a returned ``decision_id`` is always resolvable.
What is kept of the prompt: its basin (the 64 numbers every kernel saw, enough to
re-score the decision under another policy) and its sha256; not the text, because
prompts are user data and the outcome that follows carries its own copy anyway.

An outcome naming a decision links itself to it in the intake's transaction
(:func:`pantheon.training.intake.insert_linked`). The first outcome of a decision wins; a
later one is a duplicate of it (the same rule as a repeated ``outcome_key``), and an
outcome of another god than the chosen one is an *override* (the chat app chose
otherwise): stored and trained like any outcome, but left out of off-policy evaluation,
where its probability is unknown.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.errors import NotFoundError, ValidationError
from pantheon.learning.kernel import Kernel, predict_each
from pantheon.learning.policy import Policy, PolicyKind, RandomSource, choose
from pantheon.learning.seeds import seed_int
from pantheon.store import decisions as decision_rows
from pantheon.store.basins import decode_basins, encode_basins
from pantheon.training.encoding import current_version, route_basin
from pantheon.training.routing import cache_for

if TYPE_CHECKING:
    from pantheon.training.service import TrainingService

#: ``explore`` of a request: None (the settings' policy), False (greedy), True (softmax
#: with the settings' rate) or a number (softmax with that rate).
Explore = bool | float | None


@dataclass(frozen=True)
class RankedGod:
    god_name: str
    p_success: float
    expected_reward: float
    uncertainty: float
    cost: float
    score: float
    probability: float


@dataclass(frozen=True)
class RouteDecision:
    decision_id: uuid.UUID
    god_name: str
    propensity: float
    policy: PolicyKind
    policy_params: dict[str, float]
    ranking: list[RankedGod]


@dataclass(frozen=True)
class DecisionView:
    decision_id: uuid.UUID
    created_at: datetime
    prompt_sha256: str
    god_name: str
    propensity: float
    policy: str
    policy_params: dict[str, Any]
    kernel_versions: dict[str, int]
    ranking: list[RankedGod]
    outcome_id: int | None
    outcome_god: str | None
    override: bool | None
    linked_at: datetime | None


def policy_for(settings: Settings, explore: Explore) -> Policy:
    """The policy a request asks for (see :data:`Explore`). Exploring on request uses the
    settings' exploring kind (softmax unless ``route_policy`` names another one)."""
    exploring = (
        settings.route_policy
        if settings.route_policy in (PolicyKind.SOFTMAX, PolicyKind.THOMPSON)
        else PolicyKind.SOFTMAX
    )
    if explore is None:
        kind = settings.route_policy
        rate = settings.explore_rate
    elif isinstance(explore, bool):
        kind = exploring if explore else PolicyKind.GREEDY
        rate = settings.explore_rate
    else:
        kind, rate = exploring, float(explore)
    return Policy(
        kind=kind,
        temperature=settings.explore_temperature,
        spread=settings.explore_spread,
        rate=rate,
    )


class _LockedSource:
    """A generator shared by a process's request threads (numpy's is not thread-safe)."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def random(self) -> float:
        with self._lock:
            return float(self._rng.random())


_sources: weakref.WeakKeyDictionary[Any, _LockedSource] = weakref.WeakKeyDictionary()
_sources_lock = threading.Lock()


def _source_for(service: TrainingService) -> _LockedSource:
    with _sources_lock:
        source = _sources.get(service)
        if source is None:
            # Fresh entropy mixed with the seed: two web processes must not make the same
            # choices in lockstep (the propensities stay exact either way).
            entropy = uuid.uuid4().int & 0xFFFFFFFF
            source = _sources[service] = _LockedSource(
                seed_int(service.settings.seed, "route", entropy)
            )
        return source


def prompt_digest(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def route(
    service: TrainingService,
    prompt: str,
    candidates: Sequence[str] | None = None,
    *,
    explore: Explore = None,
    cost_weight: float = 0.0,
    source: RandomSource | None = None,
) -> RouteDecision:
    """Choose a god for ``prompt`` and record the decision (committed on return)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError("prompt must not be empty")
    if len(prompt) > service.settings.max_prompt_chars:
        raise ValidationError(f"prompt longer than {service.settings.max_prompt_chars} characters")
    if not np.isfinite(cost_weight) or cost_weight < 0:
        raise ValidationError("cost_weight must be a finite number ≥ 0")
    policy = policy_for(service.settings, explore)
    names = list(dict.fromkeys(service.god_name(c) for c in candidates)) if candidates else None
    entries = cache_for(service).entries(service, names)
    if not entries:
        raise ValidationError("no candidate god to route to")
    basin = route_basin(prompt, service.basin_cache)
    ranked = _score(service, basin, entries, cost_weight)
    scores = np.array([r[5] for r in ranked], dtype=np.float64)
    spread = np.array([r[3] for r in ranked], dtype=np.float64)
    choice = choose(policy, scores, source or _source_for(service), spread)
    ranking = [
        RankedGod(*row, probability=float(p))
        for row, p in zip(ranked, choice.probabilities, strict=True)
    ]
    chosen = ranking[choice.index]
    decision_id = uuid.uuid4()
    params = {**policy.params(), "cost_weight": float(cost_weight)}
    row: dict[str, Any] = {
        "id": decision_id,
        "created_at": utcnow(),
        "prompt_sha256": prompt_digest(prompt),
        "basin": encode_basins(basin[None, :])[0],
        "coordizer_version": current_version(),
        "candidates": [r.god_name for r in ranking],
        "scores": [r.score for r in ranking],
        "probabilities": [r.probability for r in ranking],
        "predictions": [
            {
                "p_success": r.p_success,
                "expected_reward": r.expected_reward,
                "uncertainty": r.uncertainty,
                "cost": r.cost,
            }
            for r in ranking
        ],
        "chosen_god": chosen.god_name,
        "propensity": choice.propensity,
        "policy": policy.kind.value,
        "policy_params": params,
        "kernel_versions": {name: int(version) for name, (version, _k) in entries.items()},
    }
    _record(service, row)
    return RouteDecision(
        decision_id=decision_id,
        god_name=chosen.god_name,
        propensity=choice.propensity,
        policy=policy.kind,
        policy_params=params,
        ranking=ranking,
    )


def _record(service: TrainingService, row: dict[str, Any]) -> None:
    """The decision's one INSERT, committed before the route answers."""
    database = service.database
    if database.dialect_name != "postgresql":
        with database.session() as session:
            decision_rows.insert(session, row)
        return
    # One round trip: an autocommit connection, pinged only when it sat idle; the row's
    # fixed id makes the store's one retry on a dead connection safe.
    database.autocommit(lambda conn: decision_rows.insert_autocommit(conn, row))


def _score(
    service: TrainingService,
    basin: np.ndarray[Any, np.dtype[np.float64]],
    entries: dict[str, tuple[int, Kernel]],
    cost_weight: float,
) -> list[tuple[str, float, float, float, float, float]]:
    """(god, p_success, expected_reward, uncertainty, cost, score), best score first."""
    rows = []
    kernels = [kernel for _version, kernel in entries.values()]
    for name, pred in zip(entries, predict_each(kernels, basin), strict=True):
        cost = service.roster.get(name).cost_per_call
        p = float(pred.p_success)
        rows.append(
            (
                name,
                p,
                float(pred.expected_reward),
                float(pred.uncertainty),
                cost,
                p - cost_weight * cost,
            )
        )
    rows.sort(key=lambda r: (-r[5], -r[2]))
    return rows


def _parse_id(decision_id: str | uuid.UUID) -> uuid.UUID:
    if isinstance(decision_id, uuid.UUID):
        return decision_id
    try:
        return uuid.UUID(str(decision_id))
    except ValueError:
        raise ValidationError(f"decision_id {decision_id!r} is not a UUID") from None


def get_decision(service: TrainingService, decision_id: str | uuid.UUID) -> DecisionView:
    did = _parse_id(decision_id)
    with service.database.session(write=False) as session:
        row = decision_rows.get(session, did)
    if row is None:
        raise NotFoundError(f"no decision {did}", decision_id=str(did))
    ranking = [
        RankedGod(
            god_name=name,
            p_success=float(pred.get("p_success", 0.0)),
            expected_reward=float(pred.get("expected_reward", 0.0)),
            uncertainty=float(pred.get("uncertainty", 0.0)),
            cost=float(pred.get("cost", 0.0)),
            score=float(score),
            probability=float(p),
        )
        for name, score, p, pred in zip(
            row.candidates, row.scores, row.probabilities, row.predictions, strict=True
        )
    ]
    return DecisionView(
        decision_id=row.id,
        created_at=row.created_at,
        prompt_sha256=row.prompt_sha256,
        god_name=row.chosen_god,
        propensity=row.propensity,
        policy=row.policy,
        policy_params=dict(row.policy_params),
        kernel_versions=dict(row.kernel_versions),
        ranking=ranking,
        outcome_id=row.outcome_id,
        outcome_god=row.outcome_god,
        override=row.override,
        linked_at=row.linked_at,
    )


def expire(service: TrainingService) -> dict[str, int]:
    """Retention: delete decisions older than ``PANTHEON_DECISION_KEEP_DAYS``."""
    cutoff = utcnow() - timedelta(days=service.settings.decision_keep_days)
    with service.database.session() as session:
        return {"decisions_deleted": decision_rows.delete_older(session, cutoff)}


def recent_basins(
    service: TrainingService, limit: int
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[list[str]]]:
    """Basins and candidates of the newest ``limit`` decisions (for calibration)."""
    with service.database.session(write=False) as session:
        rows = decision_rows.recent_basins(session, limit)
    if not rows:
        return np.zeros((0, 64)), []
    return decode_basins([b for b, _c in rows]), [c for _b, c in rows]
