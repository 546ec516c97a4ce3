"""Freshness of the pipeline benchmark: time from an outcome's 2xx to its
``trained_online_at`` at a steady offered load, in two runs of the same length.

- **linked** (``freshness_*``, the chat app's flow): each outcome right after ``POST
  /api/route`` for its prompt, by the same client, as the chosen god's outcome carrying the
  ``decision_id``. Intake stores it with the decision's basin, so the worker trains it
  without encoding the prompt. The routes ride on top of the offered outcome rate, so the
  web does both.
- **unlinked** (``freshness_unlinked_*``): outcomes alone, whose prompts the worker encodes.

Both are offered the same rate (outcomes per second): ``--freshness-share`` of the slower of
the best single-intake rate and the online training rate, so the two differ only in the
link. ``*_load_share`` is that rate over the best single intake; ``*_achieved_ratio`` is
the rate the outcomes were accepted at over the offered one, and a freshness figure from a
run below 0.95 is no pass (the web could not take the load). (Offering the linked run
that share of single intake alone would ask the web for about twice its single-intake CPU,
a route costing about as much as an outcome: one such run overran its time bound.)

Each run starts from an empty queue and ends by dropping queued tasks and setting aside
outcomes still untrained (counted), so neither run inherits the other's backlog.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.pipeline_baselines import libpq_url
from benchmarks.pipeline_load import launch, merge
from benchmarks.pipeline_phases import Run, set_aside_backlog, sql_scalar
from benchmarks.pipeline_procs import CpuMeter, maybe_profile, purge, record_cpu
from benchmarks.pipeline_rows import singles, write_bodies
from benchmarks.pipeline_stats import percentile, rate, ratio
from pantheon.testing import Stack
from pantheon.worker.queues import FAST

log = logging.getLogger("benchmarks.pipeline")


def freshness_runs(
    stack: Stack,
    run: Run,
    rows: Sequence[dict[str, Any]],
    *,
    share: float,
    seconds: float,
    meter: CpuMeter,
    profile: tuple[str, int, Path],
) -> None:
    """The linked run, then the unlinked one, each on its own half of ``rows``, with the
    CPU of each process kind per outcome (``freshness[_unlinked]_cpu_*``)."""
    res = run.results
    single = _positive(res.get("intake_single_per_s"))
    online = _positive(res.get("online_trained_per_s"))
    # The pipeline's maximum is its slower stage; NaN and missing figures drop out here.
    slowest = min([m for m in (single, online) if m is not None], default=None)
    per_s = share * slowest if slowest else 50.0
    half = len(rows) // 2
    for key, part, linked in (("freshness", rows[:half], True),
                              ("freshness_unlinked", rows[half:], False)):  # fmt: skip
        res[f"{key}_load_share"] = ratio(per_s, single) if single else math.nan
        log.info("%s at %.0f outcomes/s offered", key, per_s)
        spy = maybe_profile(profile[0], "freshness", profile[1], profile[2]) if linked else None
        meter.start()
        freshness(run, part, per_s, seconds, linked=linked)
        record_cpu(res, key, meter.stop(), res[f"{key}_outcomes"])
        if spy is not None:
            spy.stop()
        log.info("%s p50 %.3f s p99 %.3f s", key, res[f"{key}_p50_s"], res[f"{key}_p99_s"])
        res[f"{key}_tasks_dropped"] = purge(stack, FAST)  # a backlog would delay the rest
        time.sleep(1.0)
        res[f"{key}_set_aside"] = set_aside_backlog(run)
        if res[f"{key}_tasks_dropped"] or res[f"{key}_set_aside"]:
            run.note(f"{key}: {res[f'{key}_tasks_dropped']} queued online tasks dropped and "
                     f"{res[f'{key}_set_aside']} untrained outcomes set aside after the "
                     "wait")  # fmt: skip


def _positive(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None


def freshness(
    run: Run,
    rows: Sequence[dict[str, Any]],
    per_s: float,
    seconds: float,
    wait_s: float = 90.0,
    *,
    linked: bool = True,
) -> None:
    """Time from each 2xx to ``trained_online_at`` at a steady offered load of ``per_s``.

    ``linked`` (the ``freshness_*`` keys): each outcome is sent as a chat app sends it, right
    after ``POST /api/route`` for its prompt by the same client, as the chosen god's outcome
    with the ``decision_id`` (the worker then trains on the decision's basin); the offered
    rate is of outcomes, the routes ride on top of it. Unlinked (``freshness_unlinked_*``):
    outcomes alone, whose prompts the worker encodes."""
    key = "freshness" if linked else "freshness_unlinked"
    count = min(len(rows), max(1, int(per_s * seconds)))
    path = write_bodies(run.work_dir / f"bodies-{key}.jsonl", singles(rows[:count]))
    procs = 1 if per_s <= 600 else 2
    route_url = {"route_url": run.web_url + "/api/route"} if linked else {}
    specs = [
        {
            "mode": "open",
            "url": run.web_url + "/api/outcomes",
            "bodies": str(path),
            "start": i,
            "stride": procs,
            "rate_per_s": per_s / procs,
            "duration_s": seconds,
            "drain_s": 60.0,
            **route_url,
        }
        for i in range(procs)
    ]
    merged = merge(launch(specs, run.work_dir, timeout_s=seconds + 120))
    accepted = {r[3]: r[1] for r in merged["records"] if 200 <= r[2] < 300 and r[3] is not None}
    ids = list(accepted)
    deadline = time.monotonic() + wait_s
    trained: dict[int, float] = {}
    while time.monotonic() < deadline:
        trained.update(_trained_stamps(run, ids))
        if len(trained) >= len(ids):
            break
        time.sleep(1.0)
    # An outcome still untrained counts with its age so far (a lower bound), so the
    # percentiles are never flattered by leaving the slow ones out.
    now = time.time()
    ages = sorted(max(0.0, trained.get(i, now) - accepted[i]) for i in ids)
    achieved = rate(len(ids), merged["ended"] - merged["began"])
    figures: dict[str, float] = {
        "offered_per_s": per_s,
        "achieved_per_s": achieved,
        # Below 1 when the web could not take the offered load: the outcomes then came
        # slower than offered, and the freshness figure is not at that load.
        "achieved_ratio": ratio(achieved, per_s),
        "outcomes": len(ids),
        "untrained": len(ids) - len(trained),
        "p50_s": percentile(ages, 50),
        "p99_s": percentile(ages, 99),
        "max_s": ages[-1] if ages else math.nan,
        "intake_p99_ms": percentile([r[5] for r in merged["records"]], 99) * 1000,
    }
    if linked:
        figures["route_p99_ms"] = percentile(merged["route_latencies"], 99) * 1000
        # Every route not answered 200 (the error list keeps only the first few); the
        # outcome of such a route is still posted, without a decision (the worker encodes).
        statuses = merged["route_statuses"]
        figures["route_errors"] = sum(n for status, n in statuses.items() if status != "200")
        figures["linked"] = int(sql_scalar(run, _LINKED_SQL, (ids,)) or 0)
    run.results.update({f"{key}_{name}": value for name, value in figures.items()})
    run.series[f"{key}_ages"] = ages
    if merged["errors"]:
        run.note(f"{key} load errors: {merged['errors'][:3]}")
    if merged["route_errors"]:
        run.note(f"{key} route errors: {merged['route_errors'][:3]}")
    if len(trained) < len(ids):
        run.note(f"{key}: {len(ids) - len(trained)} of {len(ids)} outcomes untrained "
                 f"{wait_s:.0f} s after the load; counted with their age so far")  # fmt: skip


#: Outcomes among the given ids that their decision links to.
_LINKED_SQL = "SELECT count(*) FROM decisions WHERE outcome_id = ANY(%s)"


def _trained_stamps(run: Run, ids: Sequence[int]) -> dict[int, float]:
    with psycopg.connect(libpq_url(run.database_url)) as conn:
        rows = conn.execute(
            "SELECT id, extract(epoch FROM trained_online_at)::float8 FROM outcomes "
            "WHERE id = ANY(%s) AND trained_online_at IS NOT NULL",
            (list(ids),),
        ).fetchall()
    return {int(i): float(t) for i, t in rows}
