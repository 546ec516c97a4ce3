"""Settings: every knob Pantheon reads from the environment, in one place.

Build one :class:`Settings` per process (``Settings()`` or :func:`get_settings`) and pass
it down: ``create_app(settings)``, ``create_celery(settings)``, ``TrainingService(settings)``.
Nothing else reads ``os.environ``.

Names follow the legacy service where it had one (``DATABASE_URL``, ``REDIS_URL``,
``CELERY_BROKER_URL``, ``CELERY_RESULT_BACKEND``, ``TRAINING_ENABLED``, ``CHECKPOINT_DIR``,
``CRON_SECRET``); everything Pantheon added is ``PANTHEON_*``. ``.env.example`` documents
each variable.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pantheon.errors import ConfigurationError
from pantheon.learning.coordizer_kind import CoordizerKind
from pantheon.learning.policy import PolicyKind

#: Secrets that ship in docs and examples; production refuses to start with any of them.
DEFAULT_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev", "development", "pantheon", "example"}
)
#: A platform (``PORT`` set) or production listens on every interface of its container.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
#: The shortest secret production accepts.
MIN_SECRET_CHARS = 16


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


class LogFormat(StrEnum):
    """``PANTHEON_LOG_FORMAT``: ``auto`` is ``json`` in production, ``text`` elsewhere."""

    AUTO = "auto"
    JSON = "json"
    TEXT = "text"


class Role(StrEnum):
    """What a process is about to do; production checks each against the same rules."""

    WEB = "web"  # serve, up, the web app
    WORKER = "worker"  # pantheon worker, celery -A ... worker
    BEAT = "beat"  # pantheon beat, celery -A ... beat
    MIGRATE = "db"  # pantheon db ...: writes the schema
    WRITER = "writer"  # pantheon replay: writes outcomes into the deployment's database


#: Roles that consume or feed the broker: they need one configured, not the loopback default.
BROKER_ROLES = frozenset({Role.WORKER, Role.BEAT})


def _weak(secret: str) -> bool:
    return secret.strip().lower() in DEFAULT_SECRETS or len(secret) < MIN_SECRET_CHARS


#: The log levels PANTHEON_LOG_LEVEL accepts (any case).
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_log_level(value: str) -> str:
    """``value`` as a log level name in upper case; ValueError when it is not one."""
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"PANTHEON_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    return level


class Settings(BaseSettings):
    """All of Pantheon's configuration. Field docs are the ``.env.example`` text."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", populate_by_name=True, frozen=True
    )

    # --- deployment -----------------------------------------------------------------
    env: Literal["development", "production", "test"] = Field(
        "development", validation_alias="PANTHEON_ENV"
    )
    data_dir: Path = Field(Path(".pantheon"), validation_alias="PANTHEON_DATA_DIR")
    log_level: str = Field("INFO", validation_alias="PANTHEON_LOG_LEVEL")

    # --- store of record ------------------------------------------------------------
    #: Unset means the embedded default: SQLite at ``$PANTHEON_DATA_DIR/pantheon.db``.
    database_url_raw: str | None = Field(None, validation_alias="DATABASE_URL")
    #: Connections each of a process's pools opens at most and keeps (no overflow; the
    #: old default, 5 kept + 10 opened and closed per use, had the same ceiling).
    db_pool_size: int = Field(15, validation_alias="PANTHEON_DB_POOL_SIZE", ge=1)
    #: Where checkpoint blobs live. ``auto``: the database on PostgreSQL (shared by every
    #: machine), a directory on SQLite.
    checkpoint_store: Literal["auto", "directory", "database"] = Field(
        "auto", validation_alias="PANTHEON_CHECKPOINT_STORE"
    )
    checkpoint_dir_raw: Path | None = Field(None, validation_alias="CHECKPOINT_DIR")
    checkpoint_keep: int = Field(10, validation_alias="PANTHEON_CHECKPOINT_KEEP", ge=1)
    checkpoint_keep_days: float = Field(7.0, validation_alias="PANTHEON_CHECKPOINT_KEEP_DAYS", ge=0)

    # --- broker and tasks -----------------------------------------------------------
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")
    celery_broker_url_raw: str | None = Field(None, validation_alias="CELERY_BROKER_URL")
    celery_result_backend_raw: str | None = Field(None, validation_alias="CELERY_RESULT_BACKEND")
    #: ``auto`` uses Celery only when the broker answers and a worker consumes the queue.
    task_mode: Literal["auto", "celery", "sync"] = Field(
        "auto", validation_alias="PANTHEON_TASK_MODE"
    )
    #: How long a celery/sync decision is cached, in seconds.
    mode_cache_seconds: float = Field(5.0, validation_alias="PANTHEON_MODE_CACHE_SECONDS", ge=0)
    training_enabled: bool = Field(True, validation_alias="TRAINING_ENABLED")
    worker_concurrency: int = Field(2, validation_alias="PANTHEON_WORKER_CONCURRENCY", ge=1)
    #: A pool child is replaced after this many tasks. Each replacement is a fork and a cold
    #: kernel cache; at 10 (the first default) that cost a god's outcomes seconds of
    #: freshness under load (docs/CAPACITY.md), so memory is guarded by the next setting.
    worker_max_tasks_per_child: int = Field(
        1000, validation_alias="PANTHEON_WORKER_MAX_TASKS_PER_CHILD", ge=1
    )
    #: A pool child whose resident memory passes this (KiB) is replaced after its task:
    #: the recycling guard that does not cost a fork every few tasks.
    worker_max_memory_per_child_kb: int = Field(
        524288, validation_alias="PANTHEON_WORKER_MAX_MEMORY_PER_CHILD_KB", ge=1
    )
    #: Celery mode sends a god's online-training task only if none is pending for that god
    #: (a Redis flag living this many seconds, cleared when the task starts); 0 sends one
    #: task per outcome.
    train_dispatch_coalesce_seconds: float = Field(
        5.0, validation_alias="PANTHEON_TRAIN_DISPATCH_COALESCE_SECONDS", ge=0
    )
    task_soft_time_limit: float = Field(
        300.0, validation_alias="PANTHEON_TASK_SOFT_TIME_LIMIT", gt=0
    )
    task_time_limit: float = Field(600.0, validation_alias="PANTHEON_TASK_TIME_LIMIT", gt=0)
    #: The slow queue's jobs were estimated at 5-30 min, so they get their own limits.
    slow_task_soft_time_limit: float = Field(
        1800.0, validation_alias="PANTHEON_SLOW_TASK_SOFT_TIME_LIMIT", gt=0
    )
    slow_task_time_limit: float = Field(
        2100.0, validation_alias="PANTHEON_SLOW_TASK_TIME_LIMIT", gt=0
    )
    #: How long (seconds) routing trusts the kernel versions it last read: a route between
    #: refreshes touches no database, and routing lags training by at most this. 0 reads
    #: the versions on every route.
    route_cache_seconds: float = Field(1.0, validation_alias="PANTHEON_ROUTE_CACHE_SECONDS", ge=0)
    #: Multiplies the legacy service's retry delays (60/300/600 s); tests set it small.
    task_retry_delay_scale: float = Field(
        1.0, validation_alias="PANTHEON_TASK_RETRY_DELAY_SCALE", ge=0
    )
    #: Outcomes coalesced into one online step at most (same god, still pending).
    online_coalesce_max: int = Field(256, validation_alias="PANTHEON_ONLINE_COALESCE_MAX", ge=1)
    #: After its own outcome, one online task keeps training the god's backlog this long
    #: (seconds), so one task can train many outcomes.
    online_drain_seconds: float = Field(2.0, validation_alias="PANTHEON_ONLINE_DRAIN_SECONDS", ge=0)
    #: The outbox sweep re-dispatches outcomes left untrained this long (seconds).
    outbox_sweep_after: float = Field(60.0, validation_alias="PANTHEON_OUTBOX_SWEEP_AFTER", ge=0)

    # --- schedule (5-field UTC crontab, or ``every:N`` seconds) ----------------------
    schedule_hourly: str = Field("0 * * * *", validation_alias="PANTHEON_SCHEDULE_HOURLY")
    schedule_nightly: str = Field("0 3 * * *", validation_alias="PANTHEON_SCHEDULE_NIGHTLY")
    schedule_shadow_sync: str = Field(
        "0 */4 * * *", validation_alias="PANTHEON_SCHEDULE_SHADOW_SYNC"
    )
    schedule_cleanup: str = Field("0 4 * * *", validation_alias="PANTHEON_SCHEDULE_CLEANUP")
    schedule_outbox: str = Field("every:30", validation_alias="PANTHEON_SCHEDULE_OUTBOX")
    #: The Beat leader lock expires this many seconds after its holder stops renewing it.
    beat_lock_timeout: float = Field(30.0, validation_alias="PANTHEON_BEAT_LOCK_TIMEOUT", gt=0)
    #: Health reports ``degraded`` when no slot was recorded for this long past due.
    beat_silence_seconds: float = Field(
        900.0, validation_alias="PANTHEON_BEAT_SILENCE_SECONDS", gt=0
    )

    # --- pantheon -------------------------------------------------------------------
    roster_file: Path | None = Field(None, validation_alias="PANTHEON_ROSTER_FILE")
    seed: int = Field(0, validation_alias="PANTHEON_SEED")

    # --- web ------------------------------------------------------------------------
    #: Unset: 0.0.0.0 when ``PORT`` is set (a platform routes to it) or in production,
    #: else 127.0.0.1 (a laptop's dashboard stays private). See :attr:`bind_host`.
    host: str | None = Field(None, validation_alias="PANTHEON_HOST")
    port: int = Field(8000, validation_alias="PORT")
    api_token: SecretStr | None = Field(None, validation_alias="PANTHEON_API_TOKEN")
    cron_secret: SecretStr | None = Field(None, validation_alias="CRON_SECRET")
    max_prompt_chars: int = Field(32_000, validation_alias="PANTHEON_MAX_PROMPT_CHARS", ge=1)
    max_response_chars: int = Field(64_000, validation_alias="PANTHEON_MAX_RESPONSE_CHARS", ge=1)
    max_batch: int = Field(1000, validation_alias="PANTHEON_MAX_BATCH", ge=1)
    max_body_bytes: int = Field(
        8 * 1024 * 1024, validation_alias="PANTHEON_MAX_BODY_BYTES", ge=1024
    )
    #: ``pantheon serve``/``up`` run an embedded scheduler unless the task mode is ``celery``;
    #: it stands down while a Beat holds the leader lock, so the two never both fire.
    embedded_scheduler: bool = Field(True, validation_alias="PANTHEON_EMBEDDED_SCHEDULER")

    # --- operations: logs -----------------------------------------------------------
    #: ``json``: one JSON object per line (level, time, logger, message, task id, god,
    #: outcome id); ``text``: readable lines; ``auto``: json in production, else text.
    log_format: LogFormat = Field(LogFormat.AUTO, validation_alias="PANTHEON_LOG_FORMAT")

    # --- routing decisions, exploration and cost -------------------------------------
    #: How ``POST /api/route`` chooses when a request does not say: ``softmax`` explores
    #: (every candidate keeps at least ``PANTHEON_EXPLORE_RATE / K``), ``greedy`` never does.
    route_policy: PolicyKind = Field(PolicyKind.SOFTMAX, validation_alias="PANTHEON_ROUTE_POLICY")
    #: Softmax temperature over the scores (predicted success, 0..1): lower is greedier.
    explore_temperature: float = Field(
        0.1, validation_alias="PANTHEON_EXPLORE_TEMPERATURE", gt=0, allow_inf_nan=False
    )
    #: Thompson: the posterior std of each predicted success is multiplied by this before
    #: computing each candidate's chance of drawing the highest score (1: the kernel's own).
    explore_spread: float = Field(
        1.0, validation_alias="PANTHEON_EXPLORE_SPREAD", gt=0, allow_inf_nan=False
    )
    #: Share of the choice spread uniformly over the candidates (the propensity floor × K).
    #: 0.7: the least of 0.1/0.3/0.5/0.7 whose bandit-feedback learning reached 0.95 × full
    #: information on MMLU (``pantheon bench online``, seeds 0–2; README, "bench online").
    explore_rate: float = Field(
        0.7, validation_alias="PANTHEON_EXPLORE_RATE", ge=0, le=1, allow_inf_nan=False
    )
    #: Routing decisions older than this many days are deleted by the cleanup job.
    decision_keep_days: int = Field(30, validation_alias="PANTHEON_DECISION_KEEP_DAYS", ge=1)

    # -- basins follow the coordizer ---------------------------------------------------------
    #: What makes a prompt's basin: ``encoder`` (the sentence encoder, tens of ms of CPU per
    #: new prompt) or ``static`` (its distilled token table, under 1 ms). Every process of a
    #: deployment must run the same one; changing it makes stored basins and kernels stale
    #: until ``pantheon db recoordize`` (docs/ARCHITECTURE.md, "Quality/speed frontier").
    coordizer: CoordizerKind = Field(CoordizerKind.ENCODER, validation_alias="PANTHEON_COORDIZER")
    #: Prompt basins each process keeps (LRU by prompt digest): routing and training encode
    #: a prompt seen recently only once. 0 turns the cache off.
    basin_cache_size: int = Field(4096, validation_alias="PANTHEON_BASIN_CACHE_SIZE", ge=0)
    #: Prompt encodes one process runs at once (others wait in arrival order); by default
    #: the CPUs this process may use. Each run is single-threaded, so more at once only
    #: share the cores and grow the encoder's memory arena. 0 = unbounded.
    encode_concurrency: int = Field(
        default_factory=available_cpus, validation_alias="PANTHEON_ENCODE_CONCURRENCY", ge=0
    )
    #: Outcomes per ``coordize_many`` call and per transaction of ``pantheon db recoordize``.
    recoordize_batch: int = Field(512, validation_alias="PANTHEON_RECOORDIZE_BATCH", ge=1)

    # --- hostile input: request cost bounds -----------------------------------------
    #: Seconds a request body may take to arrive (from the first read to the last byte);
    #: a client that declares more than it sends is answered 408 instead of holding a
    #: socket.
    body_read_timeout: float = Field(
        15.0, validation_alias="PANTHEON_BODY_READ_TIMEOUT", gt=0, allow_inf_nan=False
    )
    #: Longest long-poll of ``GET /api/tasks/{id}?timeout=``; larger requests wait this long.
    task_wait_max: float = Field(
        10.0, validation_alias="PANTHEON_TASK_WAIT_MAX", ge=0, le=30, allow_inf_nan=False
    )
    #: Long-polls waiting at once; beyond it a task status answers at once (no wait).
    max_task_waiters: int = Field(16, validation_alias="PANTHEON_MAX_TASK_WAITERS", ge=0)

    # --- retention of outcomes and audit rows ----------------------------------------
    #: The nightly cleanup job deletes outcomes older than this many days once they are
    #: trained online and by the hourly batch (or quarantined): the kernels hold what they
    #: taught. An untrained row is never deleted. 0 keeps every outcome.
    outcome_keep_days: int = Field(90, validation_alias="PANTHEON_OUTCOME_KEEP_DAYS", ge=0)
    #: Training-history and schedule-run rows older than this many days are deleted by the
    #: same job. 0 keeps them.
    history_keep_days: int = Field(90, validation_alias="PANTHEON_HISTORY_KEEP_DAYS", ge=0)
    #: Rows the cleanup job deletes per transaction (short locks, bounded WAL bursts).
    retention_chunk: int = Field(10_000, validation_alias="PANTHEON_RETENTION_CHUNK", ge=1)

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.task_soft_time_limit >= self.task_time_limit:
            raise ValueError("PANTHEON_TASK_SOFT_TIME_LIMIT must be below PANTHEON_TASK_TIME_LIMIT")
        if self.slow_task_soft_time_limit >= self.slow_task_time_limit:
            raise ValueError(
                "PANTHEON_SLOW_TASK_SOFT_TIME_LIMIT must be below PANTHEON_SLOW_TASK_TIME_LIMIT"
            )
        return self

    # --- hostile configuration (one clear line instead of a traceback later) --------
    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        return parse_log_level(value)

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        try:
            is_file = value.exists() and not value.is_dir()
        except OSError as exc:  # a name too long, a component that is a file, ...
            raise ValueError(f"PANTHEON_DATA_DIR is not a usable path: {exc.strerror}") from None
        if is_file:
            raise ValueError(f"PANTHEON_DATA_DIR {value} exists and is not a directory")
        return value

    # --- derived values -------------------------------------------------------------
    @cached_property
    def database_url(self) -> str:
        if self.database_url_raw:
            url = self.database_url_raw
            # Railway and Heroku hand out postgres:// URLs; SQLAlchemy wants a driver name.
            for prefix in ("postgres://", "postgresql://"):
                if url.startswith(prefix):
                    return "postgresql+psycopg://" + url[len(prefix) :]
            return url
        return f"sqlite:///{(self.data_dir / 'pantheon.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded_database(self) -> bool:
        return not self.database_url_raw

    @property
    def celery_broker_url(self) -> str:
        return self.celery_broker_url_raw or self.redis_url

    @property
    def celery_result_backend(self) -> str:
        return self.celery_result_backend_raw or self.redis_url

    @property
    def checkpoint_dir(self) -> Path:
        return self.checkpoint_dir_raw or self.data_dir / "checkpoints"

    @property
    def checkpoint_store_kind(self) -> Literal["directory", "database"]:
        if self.checkpoint_store != "auto":
            return self.checkpoint_store
        return "directory" if self.is_sqlite else "database"

    @property
    def bind_host(self) -> str:
        """Where the web service listens: ``PANTHEON_HOST``, else what the platform needs."""
        if self.host:
            return self.host
        if self.env == "production" or "port" in self.model_fields_set:
            return ALL_INTERFACES
        return "127.0.0.1"

    @property
    def broker_visibility_timeout(self) -> int:
        """Above the longest hard limit, so Redis never redelivers a task still running."""
        return int(max(self.task_time_limit, self.slow_task_time_limit) * 1.5) + 60

    def production_problems(self, role: Role = Role.WEB) -> list[str]:
        """Each missing or weak setting that production refuses for ``role``, in words.

        Empty outside ``PANTHEON_ENV=production``. The one check every entry point runs
        (``serve``, ``up``, ``worker``, ``beat``, ``db``, ``replay``, the web app and the
        Celery worker and Beat however started), before it touches a file, a database or
        a queue. Messages name the variable, never its value.
        """
        if self.env != "production":
            return []
        problems: list[str] = []
        if self.embedded_database:
            problems.append(
                "DATABASE_URL is not set (production needs PostgreSQL; unset means an "
                "embedded SQLite file)"
            )
        elif self.is_sqlite:
            problems.append("DATABASE_URL points at SQLite (production needs PostgreSQL)")
        if self.api_token is None:
            problems.append("PANTHEON_API_TOKEN is not set")
        elif _weak(self.api_token.get_secret_value()):
            problems.append(
                f"PANTHEON_API_TOKEN is a default or shorter than {MIN_SECRET_CHARS} characters"
            )
        if self.cron_secret is not None and _weak(self.cron_secret.get_secret_value()):
            problems.append(
                f"CRON_SECRET is a default or shorter than {MIN_SECRET_CHARS} characters "
                "(unset it to disable the cron route)"
            )
        if role in BROKER_ROLES and not (
            self.celery_broker_url_raw or "redis_url" in self.model_fields_set
        ):
            problems.append(
                "no broker: set REDIS_URL or CELERY_BROKER_URL (the default "
                f"{self.redis_url} is this container's loopback)"
            )
        return problems

    def require_safe_for_production(self, role: Role = Role.WEB) -> None:
        """Raise :class:`ConfigurationError` naming every problem of :meth:`production_problems`."""
        problems = self.production_problems(role)
        if problems:
            raise ConfigurationError(
                f"PANTHEON_ENV=production refuses to start {role.value}: " + "; ".join(problems),
                problems=problems,
            )


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (tests, CLI flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
