"""What the scheduled training use cases return: frozen dataclasses and their JSON.

A task's result on the wire is ``as_dict()``: key for key the dict the use case returned
before it had a type, so the Celery result backend, ``GET /api/tasks/{id}`` and the
dashboard see the same JSON. The results also read like that dict (``result["batch_size"]``,
:class:`JsonResult`), so the readers of the old dicts (scripts, benchmarks) keep working.
"""

from __future__ import annotations

from collections.abc import Iterator, KeysView, Mapping
from dataclasses import asdict, dataclass, field
from typing import ClassVar

#: Why a use case did nothing while ``TRAINING_ENABLED=false``.
DISABLED = "TRAINING_ENABLED=false"


def _status_first(result: object, *, skip: tuple[str, ...] = ()) -> dict[str, object]:
    """A dataclass result's fields as JSON, ``status`` first and the rest in declaration
    order (the order the legacy dicts had), without the fields in ``skip``."""
    fields = asdict(result)  # type: ignore[call-overload]
    out: dict[str, object] = {"status": fields.pop("status")}
    out.update((k, v) for k, v in fields.items() if k not in skip)
    return out


class JsonResult:
    """A use case's result; :meth:`as_dict` is its JSON, and reading by key reads that."""

    def as_dict(self) -> dict[str, object]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> object:
        return self.as_dict()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.as_dict()

    def get(self, key: str, default: object = None) -> object:
        return self.as_dict().get(key, default)

    def keys(self) -> KeysView[str]:
        """The JSON's keys: ``dict(result)`` is the JSON too."""
        return self.as_dict().keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())


@dataclass(frozen=True)
class Disabled(JsonResult):
    """Nothing done: training is off. ``asked`` names what was asked (``god_name``, or the
    empty totals of an all-gods job), as the legacy result did."""

    asked: Mapping[str, object] = field(default_factory=dict)
    status: ClassVar[str] = "disabled"

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "reason": DISABLED, **self.asked}


@dataclass(frozen=True)
class HourlyResult(JsonResult):
    """One god's hourly batch: ``success``, or ``skipped`` when nothing was pending.
    ``loss`` and ``reward`` are row-weighted means over the chunks (None when empty)."""

    status: str
    god_name: str
    loss: float | None
    reward: float | None
    steps: int
    batch_size: int
    duration_s: float
    rows_per_s: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class NightlyResult(JsonResult):
    """One god's nightly consolidation; ``kept`` says whether the held-out check let the
    consolidated kernel replace the live one."""

    god_name: str
    loss: float | None
    steps: int
    kept: bool
    outcomes: int
    curriculum: int
    holdout_before: float | None
    holdout_after: float | None
    version: int
    checkpoint_id: int | None
    status: str = "success"

    def as_dict(self) -> dict[str, object]:
        return _status_first(self)


@dataclass(frozen=True)
class GodFailed(JsonResult):
    """One god's part of an all-gods job raised; the others went on."""

    god_name: str
    error: str
    status: ClassVar[str] = "error"

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "god_name": self.god_name, "error": self.error}


class PerGodResults(JsonResult):
    """A job run for every active god (or god-shadow pair), each isolated from the others:
    ``error`` when any failed. Its JSON counts them under :attr:`count_key`."""

    count_key: ClassVar[str]
    results: Mapping[str, JsonResult]

    @property
    def failed(self) -> list[str]:
        return [god for god, result in self.results.items() if isinstance(result, GodFailed)]

    @property
    def status(self) -> str:
        return "error" if self.failed else "success"

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            self.count_key: len(self.results),
            "failed": self.failed,
            "results": {god: result.as_dict() for god, result in self.results.items()},
        }


@dataclass(frozen=True)
class AllGodsResult(PerGodResults):
    """An all-gods training job: each active god's result. ``recoordize`` is the hourly
    job's self-repair after a coordizer change, when it ran."""

    count_key: ClassVar[str] = "kernels"
    results: Mapping[str, JsonResult]
    recoordize: Mapping[str, object] | None = None

    def as_dict(self) -> dict[str, object]:
        out = super().as_dict()
        if self.recoordize is not None:
            out["recoordize"] = dict(self.recoordize)
        return out


@dataclass(frozen=True)
class CheckpointWritten:
    """What a new checkpoint holds: the kernel's step count, the bytes' sha256 and size,
    and why it was taken."""

    step_count: int
    sha256: str
    size_bytes: int
    trigger: str


@dataclass(frozen=True)
class CheckpointResult(JsonResult):
    """A snapshot written (``success``), or the existing one of the same kernel version
    and trigger (``duplicate``: ``written`` is None)."""

    status: str
    god_name: str
    checkpoint_id: int
    uri: str
    version: int
    #: What was written: step count, sha256, size in bytes and trigger.
    written: CheckpointWritten | None = None

    def as_dict(self) -> dict[str, object]:
        out = _status_first(self, skip=("written",))
        if self.written is not None:
            out.update(asdict(self.written))
        return out


@dataclass(frozen=True)
class RestoreResult(JsonResult):
    """A checkpoint made the kernel's live state; ``previous_checkpoint_id`` is the
    safety snapshot of the state it replaced (None when that state was unreadable)."""

    god_name: str
    checkpoint_id: int
    version: int
    step_count: int
    previous_version: int
    previous_checkpoint_id: int | None
    status: str = "success"

    def as_dict(self) -> dict[str, object]:
        return _status_first(self)


@dataclass(frozen=True)
class CleanupResult(JsonResult):
    """Retention: checkpoints deleted and kept, their blobs and orphan blobs deleted, and
    what the other retention steps deleted (``decisions_deleted``, outcome counts)."""

    deleted: int
    kept: int
    blobs_deleted: int
    orphans_deleted: int
    others: Mapping[str, int] = field(default_factory=dict)
    status: str = "success"

    def as_dict(self) -> dict[str, object]:
        return {**_status_first(self, skip=("others",)), **self.others}


@dataclass(frozen=True)
class TransferResult(JsonResult):
    """One knowledge transfer: the engine's report (``phi_before``, ``phi_after``,
    ``blend_ratio`` and the kind's own keys), the audit row and the target's new version."""

    report: Mapping[str, object]
    transfer_id: int
    target_version: int
    source_retired: bool
    checkpoint_id: int | None
    status: str = "success"

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            **self.report,
            "transfer_id": self.transfer_id,
            "target_version": self.target_version,
            "source_retired": self.source_retired,
            "checkpoint_id": self.checkpoint_id,
        }


@dataclass(frozen=True)
class ShadowSyncResult(PerGodResults):
    """Every god's shadow sync (a :class:`TransferResult` or :class:`GodFailed` per god)."""

    count_key: ClassVar[str] = "pairs"
    results: Mapping[str, TransferResult | GodFailed]
