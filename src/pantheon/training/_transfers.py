"""Knowledge transfer and shadow sync: engine transfer under the kernels' row locks,
persisted in one transaction with its audit row, then checkpointed."""

from __future__ import annotations

import logging
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from pantheon.errors import TransferError
from pantheon.learning import transfer as engine_transfer
from pantheon.learning.kernel import Kernel
from pantheon.learning.transfer import MAX_MUTATION
from pantheon.roster import Roster, god_of, shadow_of
from pantheon.store import kernels as kernel_rows
from pantheon.store.db import Database
from pantheon.store.kernels import KernelRecord
from pantheon.text import Identifier
from pantheon.training._checkpoints import Checkpoints
from pantheon.training._kernels import KernelAccess, finite
from pantheon.training.results import GodFailed, ShadowSyncResult, TransferResult

log = logging.getLogger(__name__)

#: extra_params keys a caller may pass (all JSON values; ``partner`` is a kernel name).
EXTRA_KEYS = frozenset({"partner", "mutation", "keep_source", "direction"})


class TransferParams(BaseModel):
    """A transfer's optional parameters, checked the same way at the route (422) and in
    the task (a permanent failure): unknown keys, wrong types and out-of-range values."""

    model_config = ConfigDict(extra="forbid", strict=True)

    partner: Identifier | None = Field(
        None, min_length=1, max_length=128, description="breeding: the second parent god"
    )
    mutation: float | None = Field(
        None,
        ge=0.0,
        le=MAX_MUTATION,
        allow_inf_nan=False,
        description="evolution: noise scale; larger values would saturate the kernel",
    )
    keep_source: bool | None = Field(None, description="cannibalism: keep the source active")
    direction: Literal["to_shadow", "to_god", "bidirectional"] | None = Field(
        None, description="shadow_sync: to_shadow, to_god or bidirectional"
    )

    @classmethod
    def parse(cls, data: object) -> dict[str, Any]:
        """The given parameters as a dict (unset ones left out); TransferError if bad."""
        if data is None:
            return {}
        try:
            return cls.model_validate(data).model_dump(exclude_none=True)
        except pydantic.ValidationError as exc:
            problems = [
                f"extra_params.{'.'.join(str(p) for p in e['loc']) or '(body)'}: "
                f"{str(e['msg']).removeprefix('Value error, ')}"
                for e in exc.errors()
            ]
            raise TransferError("; ".join(problems), errors=problems) from None


class Transfers:
    """Knowledge transfer and shadow sync over the database, the kernels and the roster."""

    def __init__(
        self,
        database: Database,
        kernels: KernelAccess,
        roster: Roster,
        checkpoints: Checkpoints,
    ) -> None:
        self.database = database
        self.kernels = kernels
        self.roster = roster
        self.checkpoints = checkpoints

    def kernel_name(self, name: str) -> str:
        return self.roster.resolve_kernel(name)

    def knowledge_transfer(
        self,
        transfer_type: str,
        source_god: str,
        target_god: str,
        *,
        transfer_ratio: float = 0.5,
        extra_params: dict[str, Any] | None = None,
        checkpoint: bool = True,
    ) -> TransferResult:
        if transfer_type not in engine_transfer.TRANSFER_KINDS:
            raise TransferError(
                f"unknown transfer kind {transfer_type!r}; "
                f"known: {', '.join(engine_transfer.TRANSFER_KINDS)}"
            )
        extra = TransferParams.parse(extra_params)
        source = self.kernel_name(source_god)
        target = self.kernel_name(target_god)
        if source == target:
            raise TransferError(f"cannot transfer kernel {source!r} into itself")
        partner = self.kernel_name(str(extra.pop("partner"))) if "partner" in extra else None
        names = sorted({source, target, *([partner] if partner else [])})  # one lock order
        with self.database.session() as session:
            locked: dict[str, tuple[KernelRecord, Kernel]] = {
                n: self.kernels.lock(session, n) for n in names
            }
            for n, (record, _k) in locked.items():
                if record.retired and n != target:
                    raise TransferError(f"kernel {n!r} is retired", kernel=n)
            if partner is not None:
                extra["partner"] = locked[partner][1]
            result = engine_transfer.transfer(
                transfer_type, locked[source][1], locked[target][1], transfer_ratio, **extra
            )
            report = {k: finite(v) if k.startswith("phi") else v for k, v in result.report.items()}
            target_record = locked[target][0]
            target_version = self.kernels.save(
                session, target_record, result.target, trigger="transfer", retired=False
            )
            source_changed = result.source_retired or (
                transfer_type == "shadow_sync"
                and extra.get("direction", "to_shadow") != "to_shadow"
            )
            source_version = locked[source][0].version
            if source_changed:
                source_version = self.kernels.save(
                    session,
                    locked[source][0],
                    result.source,
                    trigger="transfer",
                    retired=result.source_retired,
                )
            params = TransferParams.parse(extra_params)
            transfer_id = kernel_rows.record_transfer(
                session,
                transfer_type=transfer_type,
                source_name=source,
                target_name=target,
                blend_ratio=float(result.report["blend_ratio"]),
                phi_before=report.get("phi_before"),
                phi_after=report.get("phi_after"),
                source_retired=result.source_retired,
                params=params,
                report=report,
            )
            kernel_rows.record_training(
                session,
                kernel_name=target,
                god_name=god_of(target),
                timescale="transfer",
                outcomes=0,
                steps=0,
                loss=None,
                reward=None,
                phi_before=report.get("phi_before"),
                phi_after=report.get("phi_after"),
                step_count=result.target.step_count,
                version=target_version,
                details={
                    "transfer_id": transfer_id,
                    "transfer_type": transfer_type,
                    "source": source,
                },
            )
        # Committed: the kernels we took stay valid where unchanged; changed ones are replaced.
        for n, (record, kernel) in locked.items():
            if n not in (target, source) or (n == source and not source_changed):
                self.kernels.keep(n, record.version, kernel)
        self.kernels.keep(target, target_version, result.target)
        if source_changed:
            self.kernels.keep(source, source_version, result.source)
        snapshot = (
            self.checkpoints.write_checkpoint(target, result.target, target_version, "transfer")
            if checkpoint
            else None
        )
        log.info("transfer %s %s -> %s (id %s)", transfer_type, source, target, transfer_id)
        return TransferResult(
            report=report,
            transfer_id=transfer_id,
            target_version=target_version,
            source_retired=bool(result.source_retired),
            checkpoint_id=snapshot.checkpoint_id if snapshot else None,
        )

    def sync_all_shadows(self, gods: list[str], direction: str, ratio: float) -> ShadowSyncResult:
        """Shadow sync of every active god; each pair isolated from another's failure.

        Syncs run every 4 h, so they are not checkpointed (hourly and nightly ones are).
        """
        results: dict[str, TransferResult | GodFailed] = {}
        for god in gods:
            try:
                results[god] = self.knowledge_transfer(
                    "shadow_sync",
                    god,
                    shadow_of(god),
                    transfer_ratio=ratio,
                    extra_params={"direction": direction},
                    checkpoint=False,
                )
            except Exception as exc:  # isolate pairs; logged and reported per pair
                log.exception("shadow sync failed for %s", god)
                results[god] = GodFailed(god, str(exc))
        return ShadowSyncResult(results)
