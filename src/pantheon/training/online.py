"""Online training: one step per chunk of a god's coalesced pending outcomes.

:meth:`OnlineTrainer.train_from_outcome` is the whole use case behind one
``train_from_outcome_task`` message. It claims the requested outcome with up to
``PANTHEON_ONLINE_COALESCE_MAX - 1`` of the god's other pending ones (their missing basins
computed in one encoder call by the claim), trains one step and saves the kernel in the
claim's transaction; then it keeps draining the god's backlog for
``PANTHEON_ONLINE_DRAIN_SECONDS``. It decides itself what a redelivered (duplicate)
outcome, a quarantined one and a backlog left over mean; the caller gets an
:class:`OnlineResult` and never calls it twice for one message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from pantheon.config import Settings
from pantheon.errors import NotFoundError, PantheonError
from pantheon.learning import timescales
from pantheon.learning.batch import Batch
from pantheon.learning.kernel import Kernel
from pantheon.store import kernels as kernel_rows
from pantheon.store import outcomes as outcome_rows
from pantheon.store.db import Database
from pantheon.store.kernels import KernelRecord
from pantheon.training._kernels import (
    KernelAccess,
    audit_details,
    finite,
    p_spread,
    quarantined_error,
)
from pantheon.training.encoding import BasinCache, encoder
from pantheon.training.results import JsonResult
from pantheon.training.timescale import Timescale

log = logging.getLogger(__name__)

ONLINE = Timescale.ONLINE

#: Called once with the outcome's god before anything of that god is claimed (the worker
#: clears the god's pending-dispatch flag here: :mod:`pantheon.worker.coalesce`).
BeforeClaim = Callable[[str], None]
#: Sends one more online task for (god, outcome id) unless one is pending; returns its
#: task id, or None when none was sent.
FollowUp = Callable[[str, int], str | None]


@dataclass(frozen=True)
class OnlineResult(JsonResult):
    """What one online task did. ``coalesced`` is always a count: the outcomes this task
    trained (all chunks). ``next_outcome_id`` names the backlog left when the drain's
    time ran out; ``follow_up_task_id`` is the task sent for it (celery mode)."""

    status: str
    outcome_id: int
    god_name: str | None = None
    step_count: int = 0
    coalesced: int = 0
    loss: float | None = None
    reward: float | None = None
    phi_before: float | None = None
    phi_after: float | None = None
    version: int | None = None
    chunks: int = 0
    duration_ms: float | None = None
    drain_error: str | None = None
    next_outcome_id: int | None = None
    follow_up_task_id: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The JSON result of the task; empty optional fields are left out."""
        always = {"status", "outcome_id", "god_name", "step_count", "coalesced"}
        return {k: v for k, v in asdict(self).items() if k in always or v is not None}


@dataclass(frozen=True)
class _Step:
    god: str
    loss: float | None
    reward: float | None
    phi_before: float | None
    phi_after: float | None
    step_count: int
    version: int
    coalesced: int


@dataclass(frozen=True)
class _Duplicate:
    god: str
    step_count: int


class OnlineTrainer:
    """The online timescale over the store of record, the kernels and the basin cache."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        kernels: KernelAccess,
        basin_cache: BasinCache,
    ) -> None:
        self.settings = settings
        self.database = database
        self.kernels = kernels
        self.basin_cache = basin_cache
        self.drain_seconds = settings.online_drain_seconds

    def train_from_outcome(
        self,
        outcome_id: int,
        *,
        before_claim: BeforeClaim | None = None,
        follow_up: FollowUp | None = None,
    ) -> OnlineResult:
        """Train the outcome (coalesced with its god's other pending ones), then the god's
        backlog for up to ``drain_seconds``.

        A duplicate (trained by an earlier task) still drains the god's backlog: outcomes
        whose dispatch was skipped because this task was pending are this task's to train.
        A quarantined outcome raises (permanent) after its god's other rows are trained.
        """
        started = time.monotonic()
        first = self._first_step(outcome_id, before_claim)
        if isinstance(first, _Duplicate):
            drained = self._drain(first.god, started, follow_up, at_least_one=True)
            return OnlineResult(
                status="duplicate",
                outcome_id=outcome_id,
                god_name=first.god,
                step_count=drained.step_count or first.step_count,
                coalesced=drained.coalesced,
                version=drained.version,
                chunks=drained.chunks,
                drain_error=drained.error,
                next_outcome_id=drained.next_outcome_id,
                follow_up_task_id=drained.follow_up_task_id,
            )
        drained = self._drain(first.god, started, follow_up)
        return OnlineResult(
            status="success",
            outcome_id=outcome_id,
            god_name=first.god,
            step_count=drained.step_count or first.step_count,
            coalesced=first.coalesced + drained.coalesced,
            loss=first.loss,
            reward=first.reward,
            phi_before=first.phi_before,
            phi_after=first.phi_after,
            version=drained.version or first.version,
            chunks=1 + drained.chunks,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
            drain_error=drained.error,
            next_outcome_id=drained.next_outcome_id,
            follow_up_task_id=drained.follow_up_task_id,
        )

    # -- the requested outcome ------------------------------------------------------------
    def _first_step(self, outcome_id: int, before_claim: BeforeClaim | None) -> _Step | _Duplicate:
        # Most redelivered or coalesced tasks find their outcome trained already: say so
        # without locking or decoding the kernel. The locked re-check below stays the rule.
        with self.database.session(write=False) as session:
            state = outcome_rows.online_state(session, outcome_id)
            if state is None:
                raise NotFoundError(f"no outcome with id {outcome_id}", outcome_id=outcome_id)
            god, trained_at = state
            if trained_at is not None:
                current = kernel_rows.read(session, god, with_state=False)
        if before_claim is not None:
            before_claim(god)
        if trained_at is not None:
            return _Duplicate(god, current.step_count if current else 0)
        with self.database.session() as session:
            record, kernel = self.kernels.lock(session, god)
            locked = outcome_rows.lock_outcome(session, outcome_id)
            reason = outcome_rows.quarantine_error(session, outcome_id)
            if reason is not None:
                self.kernels.keep(record.name, record.version, kernel)
                raise quarantined_error(outcome_id, reason)
            if locked is not None and locked[1] is not None:
                self.kernels.keep(record.name, record.version, kernel)
                return _Duplicate(god, record.step_count)
            claimed = self._claim(session, god, outcome_id)
            requested_bad = outcome_id in claimed.quarantined
            step = self._train(session, god, record, kernel, claimed) if len(claimed) else None
            bad_reason = (
                outcome_rows.quarantine_error(session, outcome_id) if requested_bad else None
            )
        if step is None:
            self.kernels.keep(record.name, record.version, kernel)
        else:
            self.kernels.keep(god, step.version, kernel)
        if requested_bad:
            # Its god's other rows trained and committed; the bad row never will.
            raise quarantined_error(outcome_id, bad_reason or "")
        if step is None:  # pragma: no cover - the outcome itself is always claimable
            raise NotFoundError(f"outcome {outcome_id} could not be claimed")
        return step

    # -- the backlog ----------------------------------------------------------------------
    def _drain(
        self, god: str, started: float, follow_up: FollowUp | None, *, at_least_one: bool = False
    ) -> _Drained:
        """Steps over the god's backlog until it is empty or the budget is spent (at least
        one step for a duplicate, whose own outcome gave it nothing to train)."""
        drained = _Drained()
        while at_least_one or time.monotonic() - started < self.drain_seconds:
            at_least_one = False
            try:
                step = self._backlog_step(god)
            except PantheonError as exc:
                # Whatever trained is committed; the rest stays pending for the next task
                # or the outbox sweep. Reported, not swallowed.
                log.warning("online drain of %s stopped: %s", god, exc)
                drained.error = exc.message
                return drained
            if step is None:
                return drained
            drained.add(step)
        # The time budget ran out with a backlog left: queue the rest now rather than
        # leave it to the next outcome or the outbox sweep.
        with self.database.session(write=False) as session:
            drained.next_outcome_id = outcome_rows.first_pending_online(session, god)
        if follow_up is not None and drained.next_outcome_id is not None:
            drained.follow_up_task_id = follow_up(god, drained.next_outcome_id)
        return drained

    def _backlog_step(self, god: str) -> _Step | None:
        with self.database.session() as session:
            record, kernel = self.kernels.lock(session, god)
            claimed = self._claim(session, god, None)
            if not len(claimed):
                self.kernels.keep(record.name, record.version, kernel)
                return None
            step = self._train(session, god, record, kernel, claimed)
        self.kernels.keep(god, step.version, kernel)
        return step

    # -- one step -------------------------------------------------------------------------
    def _train(
        self,
        session: Session,
        god: str,
        record: KernelRecord,
        kernel: Kernel,
        claimed: outcome_rows.Claimed,
    ) -> _Step:
        t0 = time.monotonic()
        batch = Batch(claimed.basins, claimed.rewards, claimed.successes)
        details = {**audit_details(claimed), "p_spread": p_spread(kernel, batch)}
        step = timescales.train_from_outcome(kernel, batch)
        version = self.kernels.save(
            session, record, kernel, trigger=ONLINE.trigger, outcomes_delta=len(claimed)
        )
        kernel_rows.record_training(
            session,
            kernel_name=god,
            god_name=god,
            timescale=ONLINE,
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
        return _Step(
            god=god,
            loss=finite(step["loss"]),
            reward=finite(step["reward"]),
            phi_before=finite(step["phi_before"]),
            phi_after=finite(step["phi_after"]),
            step_count=int(step["step_count"]),
            version=version,
            coalesced=len(claimed),
        )

    def _claim(self, session: Session, god: str, outcome_id: int | None) -> outcome_rows.Claimed:
        """The online claim; claims again while it found only quarantined rows, so a run
        of bad rows at the head of the backlog does not end the drain."""
        limit = self.settings.online_coalesce_max
        coordizer = encoder(self.basin_cache)
        claimed = outcome_rows.claim(
            session, god, ONLINE.column, limit, include_id=outcome_id, encoder=coordizer
        )
        bad = list(claimed.quarantined)
        while not len(claimed) and claimed.quarantined:
            claimed = outcome_rows.claim(session, god, ONLINE.column, limit, encoder=coordizer)
            bad += claimed.quarantined
        return outcome_rows.Claimed(
            claimed.ids, claimed.basins, claimed.rewards, claimed.successes, tuple(bad)
        )


@dataclass
class _Drained:
    """The backlog steps after the first one."""

    chunks: int = 0
    coalesced: int = 0
    step_count: int = 0
    version: int | None = None
    error: str | None = None
    next_outcome_id: int | None = None
    follow_up_task_id: str | None = None

    def add(self, step: _Step) -> None:
        self.chunks += 1
        self.coalesced += step.coalesced
        self.step_count = step.step_count
        self.version = step.version
