"""The training service: the only place that combines the store and the engine.

One method per legacy task; each returns the legacy system's dict (``status`` ∈ success |
duplicate | disabled | skipped | error, plus its keys), JSON-safe, and is safe to run
twice; ``train_from_outcome`` returns an :class:`~pantheon.training.online.OnlineResult`.

Exactly once per timescale: a claim marks outcome rows (``trained_online_at``,
``batch_processed_at``, ``consolidated_at``) in the *same transaction* that saves the
trained kernel state, under the kernel's row lock (``FOR UPDATE`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite). Any exception before commit rolls both back: rows stay pending and
the kernel keeps its previous version.

Who trains what:
- online (``train_from_outcome``): the god's kernel only, one step per chunk of coalesced
  pending outcomes; the call then keeps draining the god's backlog for a short budget.
- hourly batch: the god's kernel (three passes) *and* its shadow (one pass), over the same
  claimed rows — the shadow learns only here, which keeps it a slower, smoother second
  opinion.
- nightly consolidation: the god's kernel (curriculum + the last 24 h's valuable outcomes).
- shadow sync (every 4 h): the shadow moves toward the god (Fisher-weighted blend).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.learning import coordizer, timescales
from pantheon.learning.batch import Batch
from pantheon.learning.curriculum import curriculum_batch
from pantheon.learning.kernel import Kernel
from pantheon.roster import Roster, shadow_of
from pantheon.store import kernels as kernel_rows
from pantheon.store import outcome_retention
from pantheon.store import outcomes as outcome_rows
from pantheon.store.basins import Encoder
from pantheon.store.blobs import BlobStore, create_blob_store
from pantheon.store.db import Database, shared_database
from pantheon.training import decisions as _decisions
from pantheon.training import encoding, representation
from pantheon.training._checkpoints import Checkpoints
from pantheon.training._fanout import for_each_god
from pantheon.training._kernels import (
    HOURLY_AUDIT_MAX_IDS,
    KernelAccess,
    audit_details,
    finite,
    p_spread,
)
from pantheon.training._transfers import Transfers
from pantheon.training.encoding import BasinCache, EncodeGate
from pantheon.training.intake import IngestResult, OutcomeIn, ingest
from pantheon.training.online import BeforeClaim, FollowUp, OnlineResult, OnlineTrainer
from pantheon.training.results import (
    DISABLED,
    AllGodsResult,
    CheckpointResult,
    CleanupResult,
    Disabled,
    HourlyResult,
    NightlyResult,
    RestoreResult,
    ShadowSyncResult,
    TransferResult,
)
from pantheon.training.schedule_ledger import StoreLedger
from pantheon.training.timescale import Timescale

log = logging.getLogger(__name__)

#: Rows per hourly-batch transaction: big enough to amortise the round trips, small
#: enough that a transaction (and the kernel lock) lasts well under a second.
HOURLY_CHUNK = 20_000
#: Outcomes of the last day that consolidation learns from; below this |reward| an
#: outcome carries too little signal to be worth a consolidation pass.
CONSOLIDATION_WINDOW = timedelta(hours=24)
CONSOLIDATION_MIN_VALUE = 0.2
#: At most this many of them (largest |reward| first): bounds a night's time and memory
#: however busy the day was.
CONSOLIDATION_MAX_OUTCOMES = 100_000
HOURLY_EPOCHS = 3
#: The shadow makes one pass per hourly batch: a slower, smoother learner than its god.
SHADOW_EPOCHS = 1


class TrainingService:
    """Training operations over the store of record; one instance per process is enough."""

    def __init__(
        self,
        settings: Settings,
        database: Database | None = None,
        roster: Roster | None = None,
        checkpoint_store: BlobStore | None = None,
    ) -> None:
        self.settings = settings
        # The process runs the configured representation before anything encodes.
        coordizer.use(settings.coordizer)
        self.database = database or shared_database(settings)
        self.roster = roster or Roster.load(settings.roster_file)
        self.store = checkpoint_store or create_blob_store(settings, self.database)
        self.kernels = KernelAccess(self.database, self.store, settings.seed)
        self.hourly_chunk = HOURLY_CHUNK
        self.consolidation_max = CONSOLIDATION_MAX_OUTCOMES
        self.basin_cache = BasinCache(
            settings.basin_cache_size, EncodeGate(settings.encode_concurrency)
        )
        self.online = OnlineTrainer(settings, self.database, self.kernels, self.basin_cache)
        self.checkpoints = Checkpoints(
            settings, self.database, self.store, self.kernels, self.roster
        )
        self.transfers = Transfers(self.database, self.kernels, self.roster, self.checkpoints)
        stale_after = max(settings.task_time_limit, settings.slow_task_time_limit) + 60.0
        #: ``schedule_runs``: each scheduled slot runs once (:mod:`pantheon.worker.slots`).
        self.slot_ledger = StoreLedger(self.database, stale_after)

    def encoder(self) -> Encoder:
        """The running coordizer for claims (missing basins, through the cache)."""
        return encoding.encoder(self.basin_cache)

    @property
    def enabled(self) -> bool:
        return self.settings.training_enabled

    # -- kernels ------------------------------------------------------------------------
    def kernel_name(self, name: str) -> str:
        """Canonical kernel name (god or shadow); UnknownGodError lists the valid gods."""
        return self.roster.resolve_kernel(name)

    def god_name(self, name: str) -> str:
        return self.roster.get(name).name

    def get_kernel(self, name: str) -> Kernel:
        """The live kernel (a private copy), created or restored when missing."""
        kname = self.kernel_name(name)
        with self.database.session(write=False) as session:
            record = kernel_rows.read(session, kname)
        if record is None:
            with self.database.session() as session:
                record, kernel = self.kernels.lock(session, kname)
            self.kernels.keep(record.name, record.version, kernel)
        return self.kernels.decode(record)

    def ensure_kernels(self) -> list[str]:
        """Create the row of every roster kernel that has none; returns the created names."""
        with self.database.session(write=False) as session:
            have = set(kernel_rows.versions(session))
        created = [n for n in self.roster.kernel_names if n not in have]
        for name in created:
            self.get_kernel(name)
        return created

    def _for_each_god(
        self, op: Callable[[str], HourlyResult | NightlyResult | Disabled]
    ) -> AllGodsResult:
        """``op`` for every active god, side by side on PostgreSQL (:mod:`._fanout`)."""
        return for_each_god(self.active_gods(), op, parallel=not self.database.is_sqlite)

    def active_gods(self) -> list[str]:
        """Roster gods whose kernel is not retired (a missing row counts as active)."""
        with self.database.session(write=False) as session:
            retired = {r.name for r in kernel_rows.list_all(session) if r.retired}
        return [g for g in self.roster.names if g not in retired]

    # -- intake and online (``training.online``) -----------------------------------------
    def ingest(self, outcomes: list[OutcomeIn]) -> IngestResult:
        """Store outcomes in one transaction (idempotent on ``outcome_key``)."""
        return ingest(self, outcomes)

    def pending_online(self, older_than: float, limit: int) -> list[tuple[int, str]]:
        """(outcome id, god) of outcomes still untrained online after ``older_than`` s."""
        with self.database.session(write=False) as session:
            return outcome_rows.pending_online(session, older_than, limit)

    def train_from_outcome(
        self,
        outcome_id: int,
        *,
        before_claim: BeforeClaim | None = None,
        follow_up: FollowUp | None = None,
    ) -> OnlineResult:
        """One online step for the outcome (coalesced with the god's other pending ones),
        then more steps over the god's backlog (:class:`OnlineTrainer`)."""
        if not self.enabled:
            return OnlineResult(status="disabled", outcome_id=outcome_id, reason=DISABLED)
        return self.online.train_from_outcome(
            outcome_id, before_claim=before_claim, follow_up=follow_up
        )

    # -- hourly batch ---------------------------------------------------------------------
    def train_hourly_batch(self, god: str) -> HourlyResult | Disabled:
        """Claim every outcome of ``god`` not yet batch-processed, in chunks; train the god
        and its shadow on each chunk; mark the chunk in the same transaction."""
        name = self.god_name(god)
        if not self.enabled:
            return Disabled({"god_name": name})
        started = time.monotonic()
        size = steps = 0
        loss_sum = reward_sum = 0.0
        while True:
            chunk = self._hourly_chunk(name)
            if chunk is None:
                break
            n, chunk_steps, loss, reward, taken = chunk
            size += n
            steps += chunk_steps
            loss_sum += (loss or 0.0) * n
            reward_sum += (reward or 0.0) * n
            if taken < self.hourly_chunk:
                break
        elapsed = time.monotonic() - started
        return HourlyResult(
            status="success" if size else "skipped",
            god_name=name,
            loss=finite(loss_sum / size) if size else None,
            reward=finite(reward_sum / size) if size else None,
            steps=steps,
            batch_size=size,
            duration_s=round(elapsed, 4),
            rows_per_s=round(size / elapsed, 1) if size and elapsed > 0 else None,
        )

    def _hourly_chunk(self, god: str) -> tuple[int, int, float | None, float | None, int] | None:
        """(rows trained, steps, loss, reward, rows taken incl. quarantined) of one chunk."""
        t0 = time.monotonic()
        # Basins first, outside the kernel lock; the claim encodes only late arrivals.
        representation.prefill_batch(self, god, self.hourly_chunk)
        names = [god, shadow_of(god)]  # always this order: no lock-order deadlock
        with self.database.session() as session:
            locked = [self.kernels.lock(session, n) for n in names]
            encoder = self.encoder()
            claimed = outcome_rows.claim(
                session, god, Timescale.HOURLY.column, self.hourly_chunk, encoder=encoder
            )
            bad = len(claimed.quarantined)
            while not len(claimed) and claimed.quarantined:  # only bad rows: take the next
                claimed = outcome_rows.claim(
                    session, god, Timescale.HOURLY.column, self.hourly_chunk, encoder=encoder
                )
                bad += len(claimed.quarantined)
            if not len(claimed):
                for record, kernel in locked:
                    self.kernels.keep(record.name, record.version, kernel)
                return None
            batch = Batch(claimed.basins, claimed.rewards, claimed.successes)
            saved: list[tuple[str, int, Kernel]] = []
            god_result: dict[str, Any] = {}
            for record, kernel in locked:
                epochs = SHADOW_EPOCHS if record.kind == "shadow" else HOURLY_EPOCHS
                # Only the god's row lists ids: an audit over hourly rows then sees each
                # outcome once, not once per kernel trained on it.
                god_row = record.kind != "shadow"
                details = audit_details(
                    claimed, list_ids=god_row and len(claimed) <= HOURLY_AUDIT_MAX_IDS
                )
                details["p_spread"] = p_spread(kernel, batch)
                result = timescales.train_batch(kernel, batch, epochs=epochs)
                version = self.kernels.save(
                    session, record, kernel, trigger=Timescale.HOURLY.trigger
                )
                kernel_rows.record_training(
                    session,
                    kernel_name=record.name,
                    god_name=god,
                    timescale=Timescale.HOURLY,
                    outcomes=len(claimed),
                    steps=int(result["steps"]),
                    loss=finite(result["loss"]),
                    reward=finite(result["reward"]),
                    step_count=kernel.step_count,
                    version=version,
                    duration_ms=(time.monotonic() - t0) * 1000,
                    details=details,
                )
                saved.append((record.name, version, kernel))
                god_result = god_result or result
        for kname, version, kernel in saved:
            self.kernels.keep(kname, version, kernel)
        return (
            len(claimed),
            int(god_result["steps"]),
            finite(god_result["loss"]),
            finite(god_result["reward"]),
            len(claimed) + bad,
        )

    def train_hourly_batch_all(self) -> AllGodsResult | Disabled:
        """The hourly batch for every active god; one god's failure does not stop another.

        After a coordizer change it first spends up to half the soft time limit bringing
        stored basins and stale kernels to the running version (``representation.heal``).
        """
        if not self.enabled:
            return Disabled({"kernels": 0, "results": {}})
        healed = representation.heal(self, self.settings.task_soft_time_limit / 2)
        result = self._for_each_god(self.train_hourly_batch)
        return AllGodsResult(result.results, recoordize=healed)

    # -- nightly consolidation ------------------------------------------------------------
    def train_nightly_consolidation(self, god: str) -> NightlyResult | Disabled:
        """Curriculum + the god's valuable outcomes of the last 24 h, kept only when the
        held-out check is not worse; a ``nightly_consolidation`` checkpoint afterwards."""
        name = self.god_name(god)
        if not self.enabled:
            return Disabled({"god_name": name})
        t0 = time.monotonic()
        domains = {g.name: g.domain for g in self.roster}
        curriculum = curriculum_batch(name, domains)
        with self.database.session() as session:
            record, kernel = self.kernels.lock(session, name)
            rows = outcome_rows.claim_for_consolidation(
                session,
                name,
                utcnow() - CONSOLIDATION_WINDOW,
                CONSOLIDATION_MIN_VALUE,
                self.consolidation_max,
                encoder=self.encoder(),
            )
            outcomes = Batch(rows.basins, rows.rewards, rows.successes, abs(rows.rewards))
            spread = p_spread(kernel, outcomes)
            result = timescales.consolidate(kernel, curriculum, outcomes, seed=self.settings.seed)
            live = result.kernel if result.kept else kernel
            version = record.version
            if result.kept:
                version = self.kernels.save(
                    session, record, live, trigger=Timescale.NIGHTLY.trigger
                )
            kernel_rows.record_training(
                session,
                kernel_name=name,
                god_name=name,
                timescale=Timescale.NIGHTLY,
                outcomes=len(rows),
                steps=int(result.steps),
                loss=finite(result.loss),
                reward=finite(float(rows.rewards.mean())) if len(rows) else None,
                phi_before=finite(result.holdout_before),
                phi_after=finite(result.holdout_after),
                step_count=live.step_count,
                version=version,
                duration_ms=(time.monotonic() - t0) * 1000,
                details={
                    "kept": bool(result.kept),
                    "curriculum": len(curriculum),
                    "p_spread": spread,
                    **audit_details(rows, list_ids=False),
                },
            )
        self.kernels.keep(name, version, live)
        snapshot = self.checkpoints.write_checkpoint(
            name, live, version, Timescale.NIGHTLY.trigger, dedupe=True
        )
        return NightlyResult(
            god_name=name,
            loss=finite(result.loss),
            steps=int(result.steps),
            kept=bool(result.kept),
            outcomes=len(rows),
            curriculum=len(curriculum),
            holdout_before=finite(result.holdout_before),
            holdout_after=finite(result.holdout_after),
            version=version,
            checkpoint_id=snapshot.checkpoint_id,
        )

    def train_nightly_consolidation_all(self) -> AllGodsResult | Disabled:
        if not self.enabled:
            return Disabled({"kernels": 0, "results": {}})
        return self._for_each_god(self.train_nightly_consolidation)

    # -- transfer, shadows, checkpoints ---------------------------------------------------
    def knowledge_transfer(
        self,
        transfer_type: str,
        source_god: str,
        target_god: str,
        transfer_ratio: float = 0.5,
        extra_params: dict[str, object] | None = None,
    ) -> TransferResult | Disabled:
        """Engine transfer between two kernels, persisted, audited and checkpointed."""
        if not self.enabled:
            return Disabled({"transfer_type": transfer_type})
        return self.transfers.knowledge_transfer(
            transfer_type,
            source_god,
            target_god,
            transfer_ratio=transfer_ratio,
            extra_params=extra_params,
        )

    def sync_all_shadows(
        self, direction: str = "to_shadow", ratio: float = 0.5
    ) -> ShadowSyncResult | Disabled:
        """``shadow_sync`` of every active god with its shadow (default: shadow ← god)."""
        if not self.enabled:
            return Disabled({"pairs": 0, "results": {}})
        return self.transfers.sync_all_shadows(self.active_gods(), direction, ratio)

    def save_checkpoint(self, god: str, trigger: str = "manual") -> CheckpointResult | Disabled:
        """Snapshot the live state of a god or shadow kernel."""
        if not self.enabled:
            return Disabled({"god_name": god})
        return self.checkpoints.save_checkpoint(god, trigger)

    def restore_checkpoint(self, checkpoint_id: int) -> RestoreResult | Disabled:
        """Make a checkpoint the kernel's new live version (the old one is snapshotted)."""
        if not self.enabled:
            return Disabled({"checkpoint_id": checkpoint_id})
        return self.checkpoints.restore_checkpoint(int(checkpoint_id))

    def cleanup_old_checkpoints(self) -> CleanupResult | Disabled:
        """Retention: newest N per kernel, pinned ones and young ones stay; orphans go;
        routing decisions older than ``PANTHEON_DECISION_KEEP_DAYS`` and trained outcomes
        and audit rows past their keep days (``store.outcome_retention``) go too."""
        if not self.enabled:
            return Disabled({"deleted": 0, "kept": 0})
        checkpoints = self.checkpoints.cleanup_old_checkpoints()
        others = {
            **_decisions.expire(self),
            **outcome_retention.expire(self.database, self.settings),
        }
        return replace(checkpoints, others={**checkpoints.others, **others})
