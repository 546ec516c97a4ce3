"""Online training: one step per chunk of a god's coalesced pending outcomes.

``train_from_outcome`` claims the requested outcome with up to
``PANTHEON_ONLINE_COALESCE_MAX - 1`` of the god's other pending ones (their missing
basins computed in one encoder call by the claim), trains one step and saves the kernel
in the claim's transaction; then it keeps draining the god's backlog for
``PANTHEON_ONLINE_DRAIN_SECONDS``. The methods of :class:`TrainingService` call these.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pantheon.errors import NotFoundError, PantheonError
from pantheon.learning import timescales
from pantheon.learning.batch import Batch
from pantheon.store import history
from pantheon.store import kernels as kernel_rows
from pantheon.store import outcomes as outcome_rows
from pantheon.training._audit import audit_details, p_spread, quarantined_error
from pantheon.training._kernels import finite

if TYPE_CHECKING:
    from pantheon.training.service import TrainingService

log = logging.getLogger(__name__)


def train_from_outcome(service: TrainingService, outcome_id: int) -> dict[str, Any]:
    """One online step for the outcome (coalesced with the god's other pending ones),
    then more steps over the god's backlog for up to ``service.drain_seconds``."""
    started = time.monotonic()
    first = _online_step(service, outcome_id=int(outcome_id))
    if first is None:  # pragma: no cover - the outcome itself is always claimable
        raise NotFoundError(f"outcome {outcome_id} could not be claimed")
    if first.pop("requested_quarantined", None):
        # Its god's other rows trained and committed; the bad row never will.
        raise quarantined_error(int(outcome_id), first.pop("reason", ""))
    if first["status"] != "success":
        return first
    result = dict(first)
    chunks = 1
    drained = False
    while time.monotonic() - started < service.drain_seconds:
        try:
            more = _online_step(service, god=first["god_name"])
        except PantheonError as exc:
            # The requested outcome is committed; the rest stays pending for the next
            # task or the outbox sweep. Reported, not swallowed.
            log.warning("online drain of %s stopped: %s", first["god_name"], exc)
            result["drain_error"] = exc.message
            break
        if more is None:
            drained = True
            break
        chunks += 1
        result["coalesced"] += more["coalesced"]
        result["step_count"] = more["step_count"]
        result["version"] = more["version"]
    if not drained and "drain_error" not in result:
        # The time budget ran out with a backlog left: name an outcome of it so the
        # caller can queue a follow-up instead of leaving it to the outbox sweep.
        with service.database.session(write=False) as session:
            result["next_outcome_id"] = outcome_rows.first_pending_online(
                session, first["god_name"]
            )
    result["chunks"] = chunks
    result["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
    return result


def _online_step(
    service: TrainingService, *, outcome_id: int | None = None, god: str | None = None
) -> dict[str, Any] | None:
    t0 = time.monotonic()
    if outcome_id is not None:
        # Most redelivered or coalesced tasks find their outcome trained already: say so
        # without locking or decoding the kernel. The locked re-check below stays the rule.
        with service.database.session(write=False) as session:
            state = outcome_rows.online_state(session, outcome_id)
            if state is None:
                raise NotFoundError(f"no outcome with id {outcome_id}", outcome_id=outcome_id)
            god, trained_at = state
            if trained_at is not None:
                current = kernel_rows.read(session, god, with_state=False)
                duplicate: dict[str, Any] = {
                    "status": "duplicate",
                    "outcome_id": outcome_id,
                    "god_name": god,
                    "step_count": current.step_count if current else 0,
                    "coalesced": 0,
                }
                # A coalesced dispatch may have left the god's newer outcomes to this
                # task: name the oldest so the caller trains it rather than the sweep.
                pending = outcome_rows.first_pending_online(session, god)
                if pending is not None:
                    duplicate["next_outcome_id"] = pending
                return duplicate
    with service.database.session() as session:
        assert god is not None
        record, kernel = service.kernels.lock(session, god)
        if outcome_id is not None:
            locked = outcome_rows.lock_outcome(session, outcome_id)
            reason = outcome_rows.quarantine_error(session, outcome_id)
            if reason is not None:
                service.kernels.keep(record.name, record.version, kernel)
                raise quarantined_error(outcome_id, reason)
            if locked is not None and locked[1] is not None:
                service.kernels.keep(record.name, record.version, kernel)
                return {
                    "status": "duplicate",
                    "outcome_id": outcome_id,
                    "god_name": god,
                    "step_count": record.step_count,
                    "coalesced": 0,
                }
        claimed = _claim_online(service, session, god, outcome_id)
        requested_bad = outcome_id is not None and outcome_id in claimed.quarantined
        if not len(claimed):
            service.kernels.keep(record.name, record.version, kernel)
            if requested_bad:
                reason = outcome_rows.quarantine_error(session, outcome_id or 0)
                return {"status": "success", "requested_quarantined": True, "reason": reason}
            return None
        batch = Batch(claimed.basins, claimed.rewards, claimed.successes)
        details = {**audit_details(claimed), "p_spread": p_spread(kernel, batch)}
        step = timescales.train_from_outcome(kernel, batch)
        version = service.kernels.save(
            session, record, kernel, trigger="outcome", outcomes_delta=len(claimed)
        )
        history.record_training(
            session,
            kernel_name=god,
            god_name=god,
            timescale="online",
            outcomes=len(claimed),
            steps=1,
            loss=finite(step["loss"]),
            reward=finite(step["reward"]),
            phi_before=finite(step["phi_before"]),
            phi_after=finite(step["phi_after"]),
            step_count=kernel.step_count,
            version=version,
            duration_ms=(time.monotonic() - t0) * 1000,
            details=details,
        )
        reason = (
            outcome_rows.quarantine_error(session, outcome_id)
            if requested_bad and outcome_id is not None
            else None
        )
    service.kernels.keep(god, version, kernel)
    return {
        "status": "success",
        "outcome_id": outcome_id,
        "god_name": god,
        "loss": finite(step["loss"]),
        "reward": finite(step["reward"]),
        "phi_before": finite(step["phi_before"]),
        "phi_after": finite(step["phi_after"]),
        "step_count": int(step["step_count"]),
        "version": version,
        "coalesced": len(claimed),
        **({"requested_quarantined": True, "reason": reason} if requested_bad else {}),
    }


def _claim_online(
    service: TrainingService, session: Any, god: str, outcome_id: int | None
) -> outcome_rows.Claimed:
    """The online claim; claims again while it found only quarantined rows, so a run
    of bad rows at the head of the backlog does not end the drain."""
    limit = service.settings.online_coalesce_max
    encoder = service.encoder()
    claimed = outcome_rows.claim(
        session, god, outcome_rows.ONLINE, limit, include_id=outcome_id, encoder=encoder
    )
    bad = list(claimed.quarantined)
    while not len(claimed) and claimed.quarantined:
        claimed = outcome_rows.claim(session, god, outcome_rows.ONLINE, limit, encoder=encoder)
        bad += claimed.quarantined
    return outcome_rows.Claimed(
        claimed.ids, claimed.basins, claimed.rewards, claimed.successes, tuple(bad)
    )
