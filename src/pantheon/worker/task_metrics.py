"""Task counters: successes, failures, retries, duplicates and a run-time histogram per task.

Workers record through Celery signals into one Redis hash (:data:`REDIS_KEY`), so the web
process, which serves ``/metrics``, can read what every worker did; in-process (sync) runs
are recorded in this process. :func:`snapshot` merges both.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any

import redis
from celery.signals import task_postrun, task_prerun

from pantheon.config import Settings
from pantheon.worker.broker import shared_redis_url
from pantheon.worker.queues import TASK_QUEUES

log = logging.getLogger(__name__)

REDIS_KEY = "pantheon:task_metrics"
COUNTERS = ("success", "failure", "retry", "duplicate")
#: Upper bounds (seconds) of the run-time histogram: a fast task takes milliseconds, a
#: nightly consolidation up to the slow queue's hard limit (30 min by default).
DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0
)  # fmt: skip
#: Results with one of these statuses did no work: a redelivery, a second Beat, a retry.
DUPLICATE_STATUSES = frozenset({"duplicate", "skipped"})

_local: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
_local_lock = threading.Lock()
_started: dict[str, float] = {}
_clients: dict[str, redis.Redis] = {}


def _fields(task: str, outcome: str, duration: float | None, result: object) -> dict[str, float]:
    fields: dict[str, float] = {f"{task}|{outcome}": 1.0}
    if (
        outcome == "success"
        and isinstance(result, dict)
        and result.get("status") in DUPLICATE_STATUSES
    ):
        fields[f"{task}|duplicate"] = 1.0
    if duration is not None and outcome != "retry":
        fields[f"{task}|duration_sum"] = duration
        fields[f"{task}|duration_count"] = 1.0
        # One count in the first bucket that holds it (made cumulative when read).
        fields[f"{task}|{bucket_field(duration)}"] = 1.0
    return fields


def bucket_field(duration: float) -> str:
    """``le_<bound>`` of the first bucket whose bound is at least ``duration``."""
    for bound in DURATION_BUCKETS:
        if duration <= bound:
            return f"le_{bound:g}"
    return "le_inf"


def cumulative_buckets(row: dict[str, float]) -> list[tuple[str, float]]:
    """Prometheus ``(le, count)`` pairs, cumulative, ending with ``+Inf`` = the count."""
    out: list[tuple[str, float]] = []
    total = 0.0
    for bound in DURATION_BUCKETS:
        total += row.get(f"le_{bound:g}", 0.0)
        out.append((f"{bound:g}", total))
    out.append(("+Inf", total + row.get("le_inf", 0.0)))
    return out


def record_local(task: str, outcome: str, duration: float | None, result: object = None) -> None:
    """Count one in-process run (``outcome``: success, failure or retry)."""
    with _local_lock:
        for key, value in _fields(task, outcome, duration, result).items():
            name, field = key.split("|", 1)
            _local[name][field] += value


def _client_for(settings: Settings) -> redis.Redis:
    """The shared Redis of ``settings``, resolved once per distinct configuration (a
    task's counters cost one pipeline, nothing more)."""
    key = (
        "|".join((str(settings.celery_broker_url_raw), str(settings.celery_result_backend_raw)))
        + "|"
        + settings.redis_url
    )
    client = _clients.get(key)
    if client is None:
        url = shared_redis_url(settings)
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        _clients[key] = client
    return client


def record_redis(
    settings: Settings, task: str, outcome: str, duration: float | None, result: object = None
) -> None:
    """Count one worker run in the shared Redis hash (best effort: metrics never fail a task)."""
    try:
        pipe = _client_for(settings).pipeline(transaction=False)
        for key, value in _fields(task, outcome, duration, result).items():
            if key.endswith("duration_sum"):
                pipe.hincrbyfloat(REDIS_KEY, key, value)
            else:
                pipe.hincrby(REDIS_KEY, key, int(value))
        pipe.execute()
    except Exception as exc:
        log.debug("task metrics not recorded: %s", exc)


def _on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id and getattr(task, "name", None) in TASK_QUEUES:
        _started[task_id] = time.perf_counter()


def _on_postrun(
    task_id: str | None = None,
    task: Any = None,
    retval: Any = None,
    state: str | None = None,
    **_: Any,
) -> None:
    name = getattr(task, "name", None)
    if not task_id or name not in TASK_QUEUES:
        return
    started = _started.pop(task_id, None)
    duration = None if started is None else time.perf_counter() - started
    settings = getattr(task.app, "pantheon_settings", None)
    if settings is None:
        return
    outcome = {"SUCCESS": "success", "RETRY": "retry"}.get(str(state), "failure")
    record_redis(settings, name, outcome, duration, retval)


task_prerun.connect(_on_prerun, weak=False)
task_postrun.connect(_on_postrun, weak=False)


def _empty() -> dict[str, float]:
    return {**dict.fromkeys(COUNTERS, 0.0), "duration_sum": 0.0, "duration_count": 0.0}


def snapshot(settings: Settings | None = None) -> dict[str, dict[str, float]]:
    """Per task name: success, failure, retry, duplicate, duration_sum, duration_count,
    and one ``le_<bound>`` count per histogram bucket that holds runs (not cumulative).

    Worker counts come from Redis when ``settings`` is given and Redis answers; this
    process's in-process runs are added on top.
    """
    out: dict[str, dict[str, float]] = {name: _empty() for name in TASK_QUEUES}
    if settings is not None:
        raw: dict[bytes, bytes] = {}
        try:
            raw = _client_for(settings).hgetall(REDIS_KEY)  # type: ignore[assignment]
        except Exception as exc:
            log.debug("task metrics unreadable: %s", exc)
        for key, count in raw.items():
            name, _, field = key.decode().partition("|")
            if name in out and (field in out[name] or field.startswith("le_")):
                out[name][field] = out[name].get(field, 0.0) + float(count)
    with _local_lock:
        for name, fields in _local.items():
            target = out.setdefault(name, _empty())
            for field, value in fields.items():
                target[field] = target.get(field, 0.0) + value
    return out


def reset_local() -> None:
    """Forget this process's in-process counts (tests)."""
    with _local_lock:
        _local.clear()
