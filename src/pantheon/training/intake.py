"""Outcome intake: validate, compute rewards, store all or nothing; never encode.

The basin an outcome trains on is always ``coordize(prompt)``: routing predicts from the
prompt alone, so the kernel must learn on the same coordinates it is later asked about.
Intake does not compute it: the encoder may take milliseconds per prompt, and a 202 must
not wait on it. The row is stored with its text and no basin; the claim that first trains
it computes the basin (one ``coordize_many`` per claim, ``store.basins``) and stores it
with its ``COORDIZER_VERSION``. Only a basin already in the process's cache (the prompt
was just routed) is stored at intake, since it costs nothing. A client's
``basin_trajectory`` (the legacy system's field; coordinates from the client's own space)
is validated (N x 64, finite, non-negative) so a malformed one is refused, then dropped: it
is neither stored nor trained on.

Idempotency: an ``outcome_key`` already stored (or repeated within the batch) is a
duplicate — its existing id is returned and nothing new is stored. An outcome naming a
routing decision is linked to it in the same transaction (:func:`insert_linked`). A batch with any
invalid outcome is rejected whole: nothing is stored.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.errors import UnknownGodError, ValidationError
from pantheon.learning.coordizer import BASIN_DIM
from pantheon.learning.reward import compute_reward
from pantheon.roster import Roster
from pantheon.store import decisions as decision_rows
from pantheon.store.db import Database
from pantheon.store.outcome_intake import insert_outcomes, store_outcomes
from pantheon.text import Identifier, Text
from pantheon.training.decisions import prompt_digest
from pantheon.training.encoding import BasinCache, cached_basin

log = logging.getLogger(__name__)

SourceType = Literal["chat", "search", "research", "curriculum", "replay"]
MAX_TRAJECTORY_POINTS = 4096


def _unit_interval(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


class OutcomeIn(BaseModel):
    """One outcome as a caller sends it (the ``POST /api/outcomes`` body)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    god_name: Identifier = Field(min_length=1, max_length=120)
    prompt: Text
    response: Text
    success: bool
    phi: float | None = None
    kappa: float | None = None
    coherence_score: float | None = None
    score: float | None = None
    basin_trajectory: list[list[float]] | None = None
    outcome_key: Identifier | None = Field(None, min_length=1, max_length=200)
    source_type: SourceType = "chat"
    source_id: Identifier | None = Field(None, max_length=200)
    #: The ``POST /api/route`` decision this outcome answers (optional).
    decision_id: uuid.UUID | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt must not be empty")
        return v

    @field_validator("phi", "coherence_score", "score")
    @classmethod
    def _unit(cls, v: float | None, info: pydantic.ValidationInfo) -> float | None:
        return _unit_interval(str(info.field_name), v)

    @field_validator("kappa")
    @classmethod
    def _kappa(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("kappa must be a finite number")
        return v

    @field_validator("basin_trajectory")
    @classmethod
    def _trajectory(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        if v is None:
            return None
        if not v or len(v) > MAX_TRAJECTORY_POINTS:
            raise ValueError(f"basin_trajectory must have 1 to {MAX_TRAJECTORY_POINTS} points")
        for i, point in enumerate(v):
            if len(point) != BASIN_DIM:
                raise ValueError(
                    f"basin_trajectory must be N x {BASIN_DIM}; point {i} has {len(point)} values"
                )
            if not all(math.isfinite(x) and x >= 0 for x in point):
                raise ValueError(f"basin_trajectory point {i} must be finite and non-negative")
        return v

    @classmethod
    def parse(cls, data: Mapping[str, object], index: int | None = None) -> OutcomeIn:
        """Validate a mapping; a defect raises :class:`ValidationError` naming the field."""
        try:
            return cls.model_validate(data)
        except pydantic.ValidationError as exc:
            raise _as_validation_error(exc, index) from None


def _as_validation_error(exc: pydantic.ValidationError, index: int | None) -> ValidationError:
    where = f"outcomes[{index}]." if index is not None else ""
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}{loc}: {msg}")
    return ValidationError("; ".join(problems), errors=problems, index=index)


def parse_many(items: Sequence[Mapping[str, object]]) -> list[OutcomeIn]:
    return [OutcomeIn.parse(item, i) for i, item in enumerate(items)]


@dataclass
class IngestResult:
    """``outcome_ids``: one per input outcome, in order (a duplicate gets the first id);
    ``new_ids``: the ones stored by this call; ``ids_by_god``: new ids per god."""

    accepted: int
    duplicates: int
    outcome_ids: list[int]
    new_ids: list[int]
    ids_by_god: dict[str, list[int]] = field(default_factory=dict)


class IntakeContext(Protocol):
    """What the intake needs of a training service (``TrainingService`` has it)."""

    @property
    def database(self) -> Database: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def roster(self) -> Roster: ...
    @property
    def basin_cache(self) -> BasinCache: ...


def _context(
    target: IntakeContext | Database,
) -> tuple[Database, Settings, Roster, BasinCache | None]:
    if isinstance(target, Database):
        return target, target.settings, Roster.load(target.settings.roster_file), None
    return target.database, target.settings, target.roster, target.basin_cache


def validate_batch(outcomes: Sequence[OutcomeIn], settings: Settings, roster: Roster) -> list[str]:
    """Checks needing settings and roster; returns each outcome's canonical god name."""
    gods = []
    for i, o in enumerate(outcomes):
        if o.god_name not in roster:
            err = UnknownGodError(o.god_name, roster.names)
            err.details["index"] = i
            raise err
        gods.append(roster.get(o.god_name).name)
        if len(o.prompt) > settings.max_prompt_chars:
            raise ValidationError(
                f"outcomes[{i}].prompt: longer than {settings.max_prompt_chars} characters",
                index=i,
            )
        if len(o.response) > settings.max_response_chars:
            raise ValidationError(
                f"outcomes[{i}].response: longer than {settings.max_response_chars} characters",
                index=i,
            )
    return gods


def ingest(target: IntakeContext | Database, outcomes: Sequence[OutcomeIn]) -> IngestResult:
    """Store a batch of outcomes in one transaction (all or nothing); idempotent on key."""
    database, settings, roster, cache = _context(target)
    if not outcomes:
        return IngestResult(0, 0, [], [])
    gods = validate_batch(outcomes, settings, roster)
    now = utcnow()
    rows = []
    for o, god in zip(outcomes, gods, strict=True):
        blob, version = cached_basin(o.prompt, cache) or (None, None)
        rows.append(
            {
                "outcome_key": o.outcome_key,
                "god_name": god,
                "prompt": o.prompt,
                "response": o.response,
                "success": o.success,
                "score": o.score,
                "phi": o.phi,
                "kappa": o.kappa,
                "coherence_score": o.coherence_score,
                "basin": blob,
                "coordizer_version": version,
                "reward": compute_reward(o.success, o.phi, o.coherence_score, o.score),
                "source_type": o.source_type,
                "source_id": o.source_id,
                "created_at": now,
            }
        )
    decision_ids = [o.decision_id for o in outcomes]
    if any(d is not None for d in decision_ids):
        with database.session() as session:
            ids, new = insert_linked(session, decision_ids, rows)
    else:
        ids, new = store_outcomes(database, rows)
    new_ids = [i for i, fresh in zip(ids, new, strict=True) if fresh]
    by_god: dict[str, list[int]] = {}
    for oid, fresh, god in zip(ids, new, gods, strict=True):
        if fresh:
            by_god.setdefault(god, []).append(oid)
    result = IngestResult(
        accepted=len(new_ids),
        duplicates=len(ids) - len(new_ids),
        outcome_ids=ids,
        new_ids=new_ids,
        ids_by_god=by_god,
    )
    log.debug("ingested %d outcomes (%d duplicates)", result.accepted, result.duplicates)
    return result


def insert_linked(
    session: Session,
    decision_ids: Sequence[uuid.UUID | None],
    rows: list[dict[str, Any]],
) -> tuple[list[int], list[bool]]:
    """``insert_outcomes`` plus the decision links, in the caller's transaction (``ingest``
    stores a batch that names no decision without one: ``store_outcomes``).

    An unknown decision id refuses the whole batch (nothing stored). An outcome whose
    decision already has one (stored before, or earlier in this batch) is a duplicate of
    it; a keyless linked outcome gets the key ``decision:<id>``, so a retry is one too.
    """
    known = decision_rows.lock_many(session, [d for d in decision_ids if d is not None])
    unknown = [str(d) for d in decision_ids if d is not None and d not in known]
    if unknown:
        raise ValidationError(
            f"unknown decision_id {unknown[0]} (never routed, or deleted by retention)",
            unknown=unknown[:10],
        )
    taken: dict[uuid.UUID, int | None] = {d: r.outcome_id for d, r in known.items()}
    fresh: list[int] = []  # indices that get inserted
    first_of: dict[uuid.UUID, int] = {}
    for i, d in enumerate(decision_ids):
        if d is not None:
            rows[i].setdefault("outcome_key", None)
            rows[i]["outcome_key"] = rows[i]["outcome_key"] or f"decision:{d}"
            if taken[d] is not None or d in first_of:
                continue
            first_of[d] = i
            _reuse_basin(rows[i], known[d])
        fresh.append(i)
    ids, new = insert_outcomes(session.connection(), [rows[i] for i in fresh])
    out_ids: list[int] = [0] * len(rows)
    out_new = [False] * len(rows)
    for i, oid, is_new in zip(fresh, ids, new, strict=True):
        out_ids[i], out_new[i] = oid, is_new
    now = utcnow()
    links = []
    for d, i in first_of.items():
        god = str(rows[i]["god_name"])
        links.append(decision_rows.Link(d, out_ids[i], god, god != known[d].chosen_god, now))
    decision_rows.link(session, links)
    for i, d in enumerate(decision_ids):
        if d is not None and first_of.get(d) != i:
            existing = taken[d]
            out_ids[i] = existing if existing is not None else out_ids[first_of[d]]
    return out_ids, out_new


def _reuse_basin(row: dict[str, Any], decision: decision_rows.DecisionRow) -> None:
    """Store the outcome with its decision's basin (computed when it was routed) unless it
    has one already: the worker then trains it without encoding the prompt."""
    if row.get("basin") is not None:
        return
    try:
        digest = prompt_digest(str(row["prompt"]))
    except UnicodeEncodeError:  # not a prompt route() could have digested
        return
    reused = decision_rows.reusable_basin(decision, digest)
    if reused is not None:
        row["basin"], row["coordizer_version"] = reused
