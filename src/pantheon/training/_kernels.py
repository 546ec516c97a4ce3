"""Loading, creating and saving live kernels inside a service transaction, and what a
training step records about itself (the outcome-level audit and the spread of
predictions in ``training_history.details``, the error of a quarantined outcome).

A kernel's live state is its checkpoint bytes in ``kernels.state``. Missing kernels are
restored from their newest checkpoint that reads back cleanly, else created fresh. A small
per-process cache keeps the deserialised kernel of the last committed version, so a burst
of online steps does not parse the same bytes again; an entry is *taken* out while a
transaction trains it and put back only after commit, so a rolled-back step never leaves
a half-trained kernel behind in memory.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from pantheon.errors import (
    CheckpointError,
    NotFoundError,
    RepresentationMismatchError,
    ValidationError,
)
from pantheon.learning import checkpoint
from pantheon.learning.batch import Batch
from pantheon.learning.kernel import Kernel
from pantheon.roster import god_of, is_shadow
from pantheon.store import checkpoints as checkpoint_rows
from pantheon.store import kernels as kernel_rows
from pantheon.store import outcomes as outcome_rows
from pantheon.store.blobs import BlobStore
from pantheon.store.db import Database
from pantheon.store.kernels import KernelRecord
from pantheon.store.models import LEGACY_COORDIZER_VERSION
from pantheon.training.encoding import current_version

log = logging.getLogger(__name__)


def finite(value: Any) -> float | None:
    """A JSON-safe float: NaN and infinities become None."""
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def kernel_metrics(kernel: Kernel) -> dict[str, Any]:
    return {
        "running_loss": finite(kernel.running_loss),
        "running_reward": finite(kernel.running_reward),
        "outcomes_seen": int(kernel.outcomes_seen),
    }


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: The hourly god row lists its chunk's outcome ids up to this many; a bigger chunk
#: records only ``outcome_count`` and the ``first_id``/``last_id`` bounds (ids of one god
#: are not contiguous, so the bounds are not a range of trained ids). The exactly-once
#: audit reads the online rows, which always list every id.
HOURLY_AUDIT_MAX_IDS = 5_000


def p_spread(kernel: Kernel, batch: Batch) -> float | None:
    """Std of the kernel's predicted success over the batch (before the step).

    Read from the batch's cached features, which the training step that follows reuses:
    the figure costs one forward pass, so it stays exact over every row (the dashboard
    plots it per step)."""
    if not len(batch.rewards):
        return None
    return finite(float(np.std(kernel.predict_proba(batch))))


def audit_details(claimed: outcome_rows.Claimed, *, list_ids: bool = True) -> dict[str, Any]:
    """The outcome-level audit of one training step, for ``training_history.details``."""
    ids = [int(i) for i in claimed.ids]
    out: dict[str, Any] = {
        "outcome_count": len(ids),
        "first_id": ids[0] if ids else None,
        "last_id": ids[-1] if ids else None,
    }
    if list_ids:
        out["outcome_ids"] = ids
    if claimed.quarantined:
        out["quarantined_ids"] = list(claimed.quarantined)
    return out


def quarantined_error(outcome_id: int, reason: str | None) -> ValidationError:
    """Permanent: the stored row cannot be trained on, retrying will not change that."""
    return ValidationError(
        f"outcome {outcome_id} is quarantined: {reason or 'undecodable'}",
        outcome_id=outcome_id,
        quarantined=True,
    )


def meta_coordizer_version(meta: dict[str, Any]) -> str:
    """The coordizer version a checkpoint records (one written before versions were
    recorded was trained on the legacy coordizer)."""
    metrics = meta.get("metrics")
    found = metrics.get("coordizer_version") if isinstance(metrics, dict) else None
    return str(found) if found else LEGACY_COORDIZER_VERSION


def is_stale(record: KernelRecord) -> bool:
    """True when the kernel was trained on basins of another coordizer version."""
    return record.coordizer_version != current_version()


def mismatch(name: str, found: str | None, what: str = "kernel") -> RepresentationMismatchError:
    current = current_version()
    return RepresentationMismatchError(
        f"{what} {name!r} was trained on coordizer {found or 'unknown'}, not the running "
        f"{current}; run `pantheon db recoordize` to rebuild kernels from stored outcomes",
        kernel=name,
        coordizer_version=found,
        current_coordizer_version=current,
    )


class KernelAccess:
    """Kernel rows ↔ engine kernels for one service (one per process in practice)."""

    def __init__(self, database: Database, store: BlobStore, seed: int) -> None:
        self.database = database
        self.store = store
        self.seed = seed
        self._cache: dict[str, tuple[int, Kernel]] = {}
        self._lock = threading.Lock()
        #: Bumped whenever this process commits a new kernel version (or forgets one):
        #: routing re-reads versions at once instead of waiting out its cache TTL.
        self.generation = 0
        self._committed: dict[str, int] = {}

    # -- cache ----------------------------------------------------------------------------
    def take(self, record: KernelRecord) -> Kernel:
        """The kernel of ``record``'s version, owned by the caller until :meth:`keep`."""
        with self._lock:
            cached = self._cache.pop(record.name, None)
        if cached is not None and cached[0] == record.version:
            return cached[1]
        return self.decode(record)

    def keep(self, name: str, version: int, kernel: Kernel) -> None:
        """Remember a committed kernel (call only after the transaction committed)."""
        with self._lock:
            self._cache[name] = (version, kernel)
            if self._committed.get(name) != version:
                self._committed[name] = version
                self.generation += 1

    def forget(self, name: str | None = None) -> None:
        with self._lock:
            self.generation += 1
            if name is None:
                self._cache.clear()
            else:
                self._cache.pop(name, None)

    @staticmethod
    def decode(record: KernelRecord) -> Kernel:
        kernel, _meta = checkpoint.loads(record.state, expect_kernel=record.name)
        return kernel

    # -- creation -------------------------------------------------------------------------
    def initial(self, name: str) -> tuple[Kernel, dict[str, Any]]:
        """The newest checkpoint of ``name`` that loads cleanly, else a fresh kernel."""
        with self.database.session(write=False) as session:
            rows = checkpoint_rows.newest(session, name)
        for row in rows:
            try:
                data = self.store.get(row["uri"])
                if sha256_hex(data) != row["sha256"]:
                    raise CheckpointError("checkpoint blob does not match its recorded sha256")
                kernel, meta = checkpoint.loads(data, expect_kernel=name)
                if meta_coordizer_version(meta) != current_version():
                    raise mismatch(name, meta_coordizer_version(meta), "checkpoint of")
            except (
                CheckpointError,
                NotFoundError,
                ValidationError,
                RepresentationMismatchError,
            ) as exc:
                log.warning("skipping checkpoint %s of %s: %s", row["id"], name, exc)
                continue
            log.info("kernel %s restored from checkpoint %s", name, row["id"])
            return kernel, {"origin": "checkpoint", "checkpoint_id": int(row["id"])}
        return Kernel(name, seed=self.seed), {"origin": "fresh"}

    def lock(
        self, session: Session, name: str, *, allow_stale: bool = False
    ) -> tuple[KernelRecord, Kernel]:
        """Lock ``name``'s row (creating it when missing) and take its kernel.

        A kernel trained on another coordizer version raises
        :class:`RepresentationMismatchError` unless ``allow_stale`` (checkpoints, rebuild):
        training it on today's basins would mix two representations.
        """
        record = kernel_rows.lock(session, name)
        if record is None:
            kernel, origin = self.initial(name)
            created = kernel_rows.insert_if_absent(
                session,
                name=name,
                god_name=god_of(name),
                kind="shadow" if is_shadow(name) else "god",
                state=checkpoint.dumps(
                    kernel, trigger="create", metrics={"coordizer_version": current_version()}
                ),
                step_count=kernel.step_count,
                coordizer_version=current_version(),
                metrics={**kernel_metrics(kernel), **origin},
            )
            if created:
                log.info("created kernel %s (%s)", name, origin["origin"])
            record = kernel_rows.lock(session, name)
            if record is None:  # pragma: no cover - the insert or a rival's is visible now
                raise NotFoundError(f"kernel {name!r} could not be created", kernel=name)
        if not allow_stale and is_stale(record):
            raise mismatch(name, record.coordizer_version)
        return record, self.take(record)

    def save(
        self,
        session: Session,
        record: KernelRecord,
        kernel: Kernel,
        *,
        trigger: str,
        outcomes_delta: int = 0,
        retired: bool | None = None,
        extra_metrics: dict[str, Any] | None = None,
    ) -> int:
        """Write ``kernel`` as the next live version of ``record``; returns that version."""
        metrics = {**record.metrics, **kernel_metrics(kernel), **(extra_metrics or {})}
        # Every state saved here was trained on today's basins (``lock`` refuses a stale
        # kernel; a rebuild or a restore brings a state of the running version).
        version = current_version()
        return kernel_rows.save_state(
            session,
            record.name,
            read_version=record.version,
            state=checkpoint.dumps(kernel, trigger=trigger, metrics={"coordizer_version": version}),
            step_count=kernel.step_count,
            coordizer_version=version,
            outcomes_trained_delta=outcomes_delta,
            metrics=metrics,
            retired=retired,
        )
