"""Checkpoint operations of the training service: save, restore, retention.

Write order keeps every crash recoverable: the blob is written before its row (inside the
same transaction for the database store), and cleanup deletes rows before blobs. A blob
left without a row by a crash is an *orphan*; cleanup sweeps orphans older than
``ORPHAN_GRACE`` (the grace keeps a blob whose row is still being committed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.errors import (
    CheckpointError,
    NotFoundError,
    RepresentationMismatchError,
    ValidationError,
)
from pantheon.learning import checkpoint
from pantheon.learning.kernel import Kernel
from pantheon.roster import Roster, god_of
from pantheon.store import checkpoints as checkpoint_rows
from pantheon.store import kernels as kernel_rows
from pantheon.store.blobs import BlobStore, safe_key_part
from pantheon.store.checkpoints import CheckpointRecord
from pantheon.store.db import Database
from pantheon.store.models import CHECKPOINT_TRIGGERS
from pantheon.training._kernels import (
    KernelAccess,
    kernel_metrics,
    meta_coordizer_version,
    sha256_hex,
)
from pantheon.training.encoding import current_version
from pantheon.training.results import (
    CheckpointResult,
    CheckpointWritten,
    CleanupResult,
    RestoreResult,
)

log = logging.getLogger(__name__)

ORPHAN_GRACE = timedelta(hours=1)


def _iso(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if out.get("created_at") is not None:
        out["created_at"] = out["created_at"].isoformat()
    return out


class Checkpoints:
    """Checkpoint operations over the database, the blob store and the kernels."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        store: BlobStore,
        kernels: KernelAccess,
        roster: Roster,
    ) -> None:
        self.settings = settings
        self.database = database
        self.store = store
        self.kernels = kernels
        self.roster = roster

    def kernel_name(self, name: str) -> str:
        return self.roster.resolve_kernel(name)

    def god_name(self, name: str) -> str:
        return self.roster.get(name).name

    def write_checkpoint(
        self,
        name: str,
        kernel: Kernel,
        version: int,
        trigger: str,
        *,
        dedupe: bool = False,
        coordizer_version: str | None = None,
    ) -> CheckpointResult:
        """Store a snapshot of ``kernel`` (live version ``version``) and record its row.

        With ``dedupe``, an existing checkpoint of the same kernel version and trigger is
        returned instead (``status: duplicate``), so a repeated call adds nothing.
        ``coordizer_version`` (default: the running one) is recorded in the metadata: a
        checkpoint of another version is never restored.
        """
        if trigger not in CHECKPOINT_TRIGGERS:
            raise ValidationError(
                f"unknown checkpoint trigger {trigger!r}; known: {', '.join(CHECKPOINT_TRIGGERS)}"
            )
        if dedupe:
            with self.database.session(write=False) as session:
                for row in checkpoint_rows.newest(session, name, limit=5):
                    if row["kernel_version"] == version and row["trigger"] == trigger:
                        return CheckpointResult(
                            "duplicate", name, int(row["id"]), str(row["uri"]), version
                        )
        metrics = {
            **kernel_metrics(kernel),
            "version": version,
            "coordizer_version": coordizer_version or current_version(),
        }
        data = checkpoint.dumps(kernel, trigger=trigger, metrics=metrics)
        digest = sha256_hex(data)
        safe = safe_key_part(name)
        key = f"{safe}/{safe}-v{version}-{trigger}-{uuid.uuid4().hex[:12]}.ckpt"
        with self.database.session() as session:
            uri = self.store.put(key, data, session=session)
            checkpoint_id = checkpoint_rows.insert(
                session,
                kernel_name=name,
                god_name=god_of(name),
                kernel_version=version,
                step_count=kernel.step_count,
                trigger=trigger,
                uri=uri,
                sha256=digest,
                size_bytes=len(data),
                metrics=metrics,
            )
        log.info("checkpoint %s of %s v%s (%s) at %s", checkpoint_id, name, version, trigger, uri)
        written = CheckpointWritten(kernel.step_count, digest, len(data), trigger)
        return CheckpointResult("success", name, checkpoint_id, uri, version, written)

    def save_checkpoint(self, god: str, trigger: str) -> CheckpointResult:
        name = self.kernel_name(god)
        with self.database.session() as session:
            # A stale kernel may still be snapshotted; its checkpoint records its own version.
            record, kernel = self.kernels.lock(session, name, allow_stale=True)
        self.kernels.keep(record.name, record.version, kernel)
        snapshot = self.kernels.decode(record)
        return self.write_checkpoint(
            name,
            snapshot,
            record.version,
            trigger,
            dedupe=True,
            coordizer_version=record.coordizer_version,
        )

    def read_checkpoint(self, checkpoint_id: int) -> tuple[CheckpointRecord, Kernel]:
        """The checkpoint row and its verified kernel; refuses blobs the store does not know
        and (409) a kernel trained on another coordizer version."""
        with self.database.session(write=False) as session:
            row = checkpoint_rows.get(session, checkpoint_id)
        if row is None:
            raise NotFoundError(
                f"no checkpoint with id {checkpoint_id}", checkpoint_id=checkpoint_id
            )
        data = self.store.get(row["uri"])
        if sha256_hex(data) != row["sha256"]:
            raise CheckpointError(
                f"checkpoint {checkpoint_id} does not match its recorded sha256",
                checkpoint_id=checkpoint_id,
            )
        kernel, meta = checkpoint.loads(data, expect_kernel=row["kernel_name"])
        found = meta_coordizer_version(meta)
        if found != current_version():
            raise RepresentationMismatchError(
                f"checkpoint {checkpoint_id} of {row['kernel_name']!r} was trained on coordizer "
                f"{found}, not the running {current_version()}: it cannot be restored",
                checkpoint_id=checkpoint_id,
                coordizer_version=found,
                current_coordizer_version=current_version(),
            )
        return row, kernel

    def _safety_snapshot(
        self, name: str, current: kernel_rows.KernelRecord | None
    ) -> CheckpointResult | None:
        """Snapshot what a restore replaces, so a restore can itself be undone.

        A live state that cannot be read or re-encoded (corrupt, or written before kernels
        refused non-finite numbers) is not worth keeping and must never block the way back
        to a good checkpoint: it is logged and skipped.
        """
        if current is None:
            return None
        try:
            live = self.kernels.decode(current)
            return self.write_checkpoint(
                name,
                live,
                current.version,
                "restore",
                coordizer_version=current.coordizer_version,
            )
        except (CheckpointError, ValidationError) as exc:
            log.warning(
                "restore of %s: live state v%s is unreadable (%s); no safety snapshot taken",
                name,
                current.version,
                exc.message,
            )
            return None

    def restore_checkpoint(self, checkpoint_id: int) -> RestoreResult:
        row, restored = self.read_checkpoint(checkpoint_id)
        name = row["kernel_name"]
        self.kernel_name(name)  # the god must still be in the roster
        with self.database.session(write=False) as session:
            current = kernel_rows.read(session, name)
        safety = self._safety_snapshot(name, current)
        with self.database.session() as session:
            # The live state is replaced, not read: a broken one must not block the restore.
            record = (
                kernel_rows.lock(session, name)
                or self.kernels.lock(session, name, allow_stale=True)[0]
            )
            version = self.kernels.save(
                session,
                record,
                restored,
                trigger="restore",
                retired=False,
                extra_metrics={"restored_from": checkpoint_id},
            )
            kernel_rows.record_training(
                session,
                kernel_name=name,
                god_name=god_of(name),
                timescale="restore",
                outcomes=0,
                steps=0,
                loss=None,
                reward=None,
                step_count=restored.step_count,
                version=version,
                details={"checkpoint_id": checkpoint_id, "from_version": record.version},
            )
        self.kernels.keep(name, version, restored)
        return RestoreResult(
            god_name=name,
            checkpoint_id=checkpoint_id,
            version=version,
            step_count=restored.step_count,
            previous_version=record.version,
            previous_checkpoint_id=safety.checkpoint_id if safety else None,
        )

    def cleanup_old_checkpoints(self) -> CleanupResult:
        settings = self.settings
        cutoff = utcnow() - timedelta(days=settings.checkpoint_keep_days)
        with self.database.session() as session:
            victims, kept = checkpoint_rows.retention_victims(
                session, settings.checkpoint_keep, cutoff
            )
            checkpoint_rows.delete_ids(session, [int(v["id"]) for v in victims])
        blobs_deleted = 0
        for victim in victims:
            try:
                blobs_deleted += bool(self.store.delete(victim["uri"]))
            except (NotFoundError, ValidationError) as exc:
                # A row from another store kind: its blob is not ours to delete.
                log.warning(
                    "checkpoint %s blob %s not deleted: %s", victim["id"], victim["uri"], exc
                )
        orphans = self.sweep_orphans()
        log.info(
            "checkpoint cleanup: %d deleted, %d kept, %d orphan blobs", len(victims), kept, orphans
        )
        return CleanupResult(len(victims), kept, blobs_deleted, orphans)

    def sweep_orphans(self, grace: timedelta = ORPHAN_GRACE) -> int:
        """Delete blobs older than ``grace`` that no checkpoint row points at."""
        cutoff = utcnow() - grace
        blobs = self.store.list_blobs()
        with self.database.session(write=False) as session:
            referenced = checkpoint_rows.referenced_uris(session)
        removed = 0
        for blob in blobs:
            if blob.uri not in referenced and blob.created_at < cutoff:
                removed += bool(self.store.delete(blob.uri))
                log.info("removed orphan checkpoint blob %s", blob.uri)
        return removed

    def list_checkpoints(self, god_name: str | None = None) -> list[dict[str, Any]]:
        god = self.god_name(god_name) if god_name else None
        with self.database.session(write=False) as session:
            return [_iso(r) for r in checkpoint_rows.list_rows(session, god)]
