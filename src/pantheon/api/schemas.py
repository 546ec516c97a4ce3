"""Request and response bodies of the HTTP API (they are the OpenAPI document).

The outcome body is the intake's own :class:`~pantheon.training.intake.OutcomeIn`, so the
web layer and the worker validate outcomes with the same rules.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pantheon.learning.policy import PolicyKind
from pantheon.learning.transfer import TransferKind
from pantheon.text import Identifier, Text
from pantheon.training._transfers import TransferParams
from pantheon.training.intake import OutcomeIn

__all__ = [
    "BatchAccepted",
    "BatchIn",
    "CalibrationOut",
    "CheckpointIn",
    "CronIn",
    "DecisionOut",
    "ErrorBody",
    "EvaluationOut",
    "HealthOut",
    "JobAccepted",
    "OutcomeAccepted",
    "OutcomeIn",
    "RankItem",
    "RouteIn",
    "RouteOut",
    "TaskStatus",
    "TransferIn",
    "TransferParams",
]

DispatchMode = Literal["celery", "sync", "deferred", "none"]
#: The health report's closed sets, each named once.
HealthStatus = Literal["ok", "degraded", "down"]
#: ``unused``: this deployment runs without a broker (``PANTHEON_TASK_MODE=sync``).
BrokerStatus = Literal["ok", "down", "unused"]
DatabaseStatus = Literal["ok", "down"]
BeatStatus = Literal["ok", "silent", "unknown", "unused"]
HealthMode = Literal["celery", "sync", "embedded", "unknown"]


class ErrorBody(BaseModel):
    """Every error answer: a stable code, a sentence for people, and structured context."""

    error: str = Field(examples=["unknown_god"])
    detail: str
    context: dict[str, Any] | None = None


class OutcomeAccepted(BaseModel):
    outcome_id: int
    task_id: str | None = Field(
        None, description="the training task; null for a duplicate or a deferred dispatch"
    )
    mode: DispatchMode = Field(
        description="celery: queued; sync: trained in-process; deferred: stored, the outbox "
        "sweep trains it later; none: a duplicate, nothing dispatched"
    )
    duplicate: bool = False


class BatchIn(BaseModel):
    outcomes: list[OutcomeIn] = Field(
        min_length=1, description="up to PANTHEON_MAX_BATCH outcomes, stored in one transaction"
    )


class BatchTask(BaseModel):
    god_name: str
    task_id: str | None
    mode: DispatchMode


class BatchAccepted(BaseModel):
    accepted: int
    duplicates: int
    outcome_ids: list[int]
    tasks: list[BatchTask] = Field(default_factory=list)


class RouteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: Text = Field(min_length=1)
    candidates: list[Identifier] | None = Field(
        None, min_length=1, description="gods to choose from; all gods when omitted"
    )
    explore: bool | float | None = Field(
        None,
        description="null: the configured policy (PANTHEON_ROUTE_POLICY); false: greedy; "
        "true: the exploring policy (thompson if configured, else softmax) with "
        "PANTHEON_EXPLORE_RATE; a number in [0, 1]: the same with that rate "
        "(every candidate gets at least rate / K)",
    )
    cost_weight: float = Field(
        0.0,
        ge=0.0,
        allow_inf_nan=False,
        description="willingness to pay: score = predicted success - cost_weight * cost_per_call",
    )

    @field_validator("explore")
    @classmethod
    def _rate(cls, v: bool | float | None) -> bool | float | None:
        if v is not None and not isinstance(v, bool) and not (0.0 <= v <= 1.0):
            raise ValueError("explore must be true, false, null or a rate in [0, 1]")
        return v


class GodPrediction(BaseModel):
    god_name: str
    p_success: float
    expected_reward: float
    uncertainty: float


class RankItem(GodPrediction):
    cost: float = Field(description="the god's cost_per_call in the roster")
    score: float = Field(description="p_success - cost_weight * cost: what the policy ranks by")
    probability: float = Field(description="the probability the policy gave this god")


class RouteOut(BaseModel):
    god_name: str = Field(description="the chosen god: call this one")
    decision_id: uuid.UUID = Field(description="send it back with the outcome")
    propensity: float = Field(description="the probability with which god_name was chosen")
    policy: PolicyKind
    policy_params: dict[str, float]
    ranking: list[RankItem] = Field(description="every candidate, best score first")


class DecisionOut(BaseModel):
    decision_id: uuid.UUID
    created_at: datetime
    prompt_sha256: str = Field(description="sha256 of the prompt; the text is not kept")
    god_name: str
    propensity: float
    policy: str
    policy_params: dict[str, float]
    kernel_versions: dict[str, int]
    ranking: list[RankItem]
    outcome_id: int | None
    outcome_god: str | None
    override: bool | None = Field(description="the outcome came from another god")
    linked_at: datetime | None


class EstimateOut(BaseModel):
    value: float | None = Field(description="estimated success rate (null: no support)")
    low: float | None = Field(description="95% interval, normal approximation")
    high: float | None
    n: int


class PolicyEstimateOut(BaseModel):
    policy: str = Field(description="logging, greedy, always:<god> or random")
    ips: EstimateOut
    snips: EstimateOut
    dr: EstimateOut
    expected_cost: float = Field(description="mean cost_per_call under the policy (exact)")


class EvaluationOut(BaseModel):
    decisions: int = Field(description="logged decisions with an outcome of the chosen god")
    gods: list[str]
    policies: list[PolicyEstimateOut]
    note: str


class CalibrationOut(BaseModel):
    share: float
    god_name: str = Field(description="the most expensive god")
    cost_weight: float = Field(description="send it as cost_weight to POST /api/route")
    achieved_share: float = Field(description="share of the recent prompts it sends there")
    prompts: int


class TaskStatus(BaseModel):
    task_id: str
    task_name: str | None = None
    mode: str | None = None
    state: str = Field(description="PENDING, STARTED, RETRY, SUCCESS or FAILURE")
    ready: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    date_done: datetime | None = None


class JobAccepted(BaseModel):
    task_id: str | None
    task_name: str
    mode: DispatchMode
    result: dict[str, Any] | None = Field(
        None, description="the task's result when it ran in-process (sync mode)"
    )


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transfer_type: TransferKind
    source_god: Identifier = Field(min_length=1, max_length=128)
    target_god: Identifier = Field(min_length=1, max_length=128)
    transfer_ratio: float = Field(0.5, ge=0.0, le=1.0, allow_inf_nan=False)
    extra_params: TransferParams | None = None


class CheckpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    god_name: Identifier = Field(min_length=1, max_length=128)


class CronIn(BaseModel):
    task_type: Identifier = Field(
        min_length=1,
        max_length=64,
        description="hourly, nightly, shadow-sync or cleanup (the old cron names also work)",
    )


class RepresentationOut(BaseModel):
    """The running coordizer and the kernels trained on another version of it."""

    coordizer_version: str
    stale_kernels: list[str] = Field(
        default_factory=list,
        description="kernels trained on another coordizer version: neither trained nor "
        "routed with until `pantheon db recoordize` rebuilds them",
    )


class HealthOut(BaseModel):
    status: HealthStatus
    mode: HealthMode = Field(
        description="celery: workers take the tasks; embedded: in-process by configuration "
        "(PANTHEON_TASK_MODE=sync, as in `pantheon up`); sync: in-process because no worker "
        "answers (auto mode, degraded)"
    )
    celery_available: bool
    database: DatabaseStatus
    broker: BrokerStatus
    workers: int
    beat: BeatStatus
    training_enabled: bool
    version: str
    checked_at: datetime
    problems: list[str] = Field(default_factory=list)
    representation: RepresentationOut | None = Field(
        None, description="null while the database does not answer"
    )


class _Open(BaseModel):
    """A read model that passes through fields the service adds later."""

    model_config = ConfigDict(extra="allow")


class KernelInfo(_Open):
    god_name: str = Field(description="the kernel's name: the god's, or <god>_shadow")
    kind: Literal["god", "shadow"]
    outcomes_trained: int = Field(description="outcomes learned online")
    step_count: int
    version: int = Field(description="live state version; 0 before the first save")
    retired: bool = False
    running_loss: float | None = None
    running_reward: float | None = None
    loss_trend: list[float | None] = Field(default_factory=list, description="oldest first")
    reward_trend: list[float | None] = Field(default_factory=list, description="oldest first")
    last_trained: datetime | None = None
    updated_at: datetime | None = None
    checkpoints: int = 0
    shadow: str | None = Field(None, description="the god's shadow kernel; null for a shadow")
    coordizer_version: str | None = Field(
        None, description="the coordizer version its state was trained on"
    )
    stale: bool = Field(
        False,
        description="trained on another coordizer version than the running one: not trained "
        "or routed with (its god routes on the prior) until `pantheon db recoordize`",
    )


class KernelList(BaseModel):
    kernels: list[KernelInfo]


class HistoryPoint(_Open):
    at: datetime
    kernel_name: str
    timescale: str
    outcomes: int = 0
    steps: int = 0
    loss: float | None = None
    reward: float | None = None
    phi_before: float | None = Field(None, description="predicted success before the step")
    phi_after: float | None = Field(None, description="predicted success after the step")
    step_count: int = 0
    version: int = 0


class HistoryOut(BaseModel):
    points: list[HistoryPoint] = Field(description="training steps, oldest first")


class RecentTask(BaseModel):
    task_id: str
    task_name: str
    mode: str
    state: str
    dispatched_at: datetime
    arguments: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None


class RecentTasks(BaseModel):
    tasks: list[RecentTask]


class CheckpointInfo(_Open):
    id: int
    kernel_name: str
    god_name: str
    kernel_version: int
    step_count: int
    trigger: str
    sha256: str
    size_bytes: int
    pinned: bool
    created_at: datetime


class CheckpointList(BaseModel):
    checkpoints: list[CheckpointInfo]


class RestoreOut(_Open):
    status: str


class ScheduleJob(BaseModel):
    job: str
    task: str
    queue: str
    schedule: str = Field(description="5-field UTC crontab, or every:N seconds")
    why: str
    catch_up_cap: int
    last_success: datetime | None = Field(None, description="slot of the last successful run")
    last_run: dict[str, Any] | None = None
    current_slot: datetime
    next_run: datetime
    missed_slots: int


class ScheduleOut(BaseModel):
    jobs: list[ScheduleJob]


class QueueDepths(BaseModel):
    queues: dict[str, int | None] = Field(description="messages waiting per queue; null: unknown")
    broker: BrokerStatus
    detail: str | None = None


class ProbeRoute(BaseModel):
    prompt: str
    source: Literal["probe", "recent"]
    god_name: str
    ranking: list[GodPrediction]


class RoutingOverview(BaseModel):
    prompts: list[ProbeRoute]
    wins: dict[str, int] = Field(description="how many of these prompts each god would get")


class StatsOut(BaseModel):
    outcomes: int
    trained_online: int
    batch_processed: int
    consolidated: int
    pending_online: int
    gods_with_outcomes: int = Field(description="gods whose kernel learned at least one outcome")
    kernels: int
    steps: int = Field(description="training steps over every kernel")
    checkpoints: int
