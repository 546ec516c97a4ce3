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
    checkpoint_id: object
    status: str = "success"

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "god_name": self.god_name,
            "loss": self.loss,
            "steps": self.steps,
            "kept": self.kept,
            "outcomes": self.outcomes,
            "curriculum": self.curriculum,
            "holdout_before": self.holdout_before,
            "holdout_after": self.holdout_after,
            "version": self.version,
            "checkpoint_id": self.checkpoint_id,
        }


@dataclass(frozen=True)
class GodFailed(JsonResult):
    """One god's part of an all-gods job raised; the others went on."""

    god_name: str
    error: str
    status: ClassVar[str] = "error"

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "god_name": self.god_name, "error": self.error}


@dataclass(frozen=True)
class AllGodsResult(JsonResult):
    """An all-gods job: each active god's result; ``error`` when any god failed.
    ``recoordize`` is the hourly job's self-repair after a coordizer change, when it ran."""

    results: Mapping[str, JsonResult]
    recoordize: Mapping[str, object] | None = None

    @property
    def failed(self) -> list[str]:
        return [god for god, result in self.results.items() if isinstance(result, GodFailed)]

    @property
    def status(self) -> str:
        return "error" if self.failed else "success"

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "status": self.status,
            "kernels": len(self.results),
            "failed": self.failed,
            "results": {god: result.as_dict() for god, result in self.results.items()},
        }
        if self.recoordize is not None:
            out["recoordize"] = dict(self.recoordize)
        return out
