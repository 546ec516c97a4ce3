"""Statistics of the pipeline benchmark: percentiles, rates, the scaling fit, the targets.

Plain functions over plain numbers, so each can be checked by a unit test with known
inputs (``tests/unit/benchmarks``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rate(count: float, seconds: float) -> float:
    """Events per second; NaN when no time passed (never a division by zero)."""
    return count / seconds if seconds > 0 else math.nan


def ratio(numerator: float, denominator: float) -> float:
    if not denominator or math.isnan(denominator) or math.isnan(numerator):
        return math.nan
    return numerator / denominator


def throughput_from_timestamps(stamps: Sequence[float]) -> float:
    """Steady rate of events stamped when they completed (e.g. ``trained_online_at``).

    The events sharing the first timestamp finished before the clock started, so they
    are not counted: rate = events after the first stamp / (last - first). Coalesced
    events share a stamp; that is fine, they are counted where they finished.
    """
    if len(stamps) < 2:
        return math.nan
    ordered = sorted(stamps)
    first, last = ordered[0], ordered[-1]
    after_first = sum(1 for s in ordered if s > first)
    return rate(after_first, last - first)


def drain_rate(samples: Sequence[tuple[float, int]]) -> float:
    """Drain rate of a queue from (time, depth) polls taken while a worker empties it.

    Starts at the first poll below the initial depth (the worker was surely running) and
    ends at the first poll that saw the queue empty (or the last poll).
    """
    if len(samples) < 2:
        return math.nan
    initial = samples[0][1]
    start = next((i for i, (_, depth) in enumerate(samples) if depth < initial), None)
    if start is None:
        return math.nan
    end = next(
        (i for i, (_, depth) in enumerate(samples) if i > start and depth == 0),
        len(samples) - 1,
    )
    if end <= start:
        return math.nan
    (t0, d0), (t1, d1) = samples[start], samples[end]
    return rate(d0 - d1, t1 - t0)


@dataclass(frozen=True)
class PowerFit:
    """``time ≈ coefficient × size ** exponent``, fitted in log-log space."""

    exponent: float
    coefficient: float
    r_squared: float


def loglog_fit(sizes: Sequence[float], times: Sequence[float]) -> PowerFit:
    """Least-squares line through (log size, log time); its slope is the exponent."""
    pairs = [
        (math.log(s), math.log(t)) for s, t in zip(sizes, times, strict=True) if s > 0 and t > 0
    ]
    if len(pairs) < 2:
        raise ValueError("a power-law fit needs at least two positive (size, time) points")
    n = len(pairs)
    mean_x = sum(x for x, _ in pairs) / n
    mean_y = sum(y for _, y in pairs) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in pairs)
    if sxx == 0:
        raise ValueError("a power-law fit needs at least two different sizes")
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in pairs)
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for _, y in pairs)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in pairs)
    r_squared = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return PowerFit(exponent=slope, coefficient=math.exp(intercept), r_squared=r_squared)


def local_slopes(sizes: Sequence[float], times: Sequence[float]) -> list[float]:
    """Log-log slope between each pair of neighbouring sizes (what one fit can hide)."""
    pairs = list(zip(sizes, times, strict=True))
    return [
        math.log(t1 / t0) / math.log(s1 / s0) if t0 > 0 and t1 > 0 and s1 != s0 else math.nan
        for (s0, t0), (s1, t1) in pairwise(pairs)
    ]


def latency_summary(latencies_s: Sequence[float], seconds: float) -> dict[str, float]:
    """p50/p99 in milliseconds and the request rate of one load run."""
    return {
        "p50_ms": percentile(latencies_s, 50) * 1000.0,
        "p99_ms": percentile(latencies_s, 99) * 1000.0,
        "per_s": rate(len(latencies_s), seconds),
        "requests": float(len(latencies_s)),
    }


# --- targets -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One line of the results table: a figure, its baseline and what it must reach."""

    key: str  # the results.json key the verdict is about
    label: str
    goal: str  # the target, as printed
    check: Callable[[float], bool] | None  # None: reported beside its baseline, no target
    baseline_key: str | None = None
    #: A run at an offered load: the results key of the share of that load it achieved.
    #: A figure measured at less load than the target names is a miss, however good.
    achieved_key: str | None = None
    unit: str = ""


TARGETS: tuple[Target, ...] = (
    Target(
        "intake_batch_ratio_copy",
        "intake, batch (outcomes/s)",
        ">= 0.25 x binary COPY",
        lambda v: v >= 0.25,
        baseline_key="copy_per_s",
    ),
    Target(
        "intake_single_ratio_noop",
        "intake, single (outcomes/s, best concurrency)",
        ">= 0.5 x no-op endpoint",
        lambda v: v >= 0.5,
        baseline_key="noop_web_per_s",
    ),
    Target(
        "intake_single_c4_p99_ms",
        "intake, single p99 at 4 clients (ms)",
        "<= 20 ms",
        lambda v: v <= 20.0,
    ),
    Target(
        "online_training_ratio_noop_default",
        "online training (outcomes/s, one worker) / plain Celery no-op",
        "(reported)",
        None,
        baseline_key="noop_task_default_per_s",
    ),
    Target(
        "online_training_ratio_noop",
        "online training / no-op with the product's Celery settings",
        "(reported)",
        None,
        baseline_key="noop_task_per_s",
    ),
    Target(
        "freshness_p99_s",
        "freshness p99 (s), outcomes linked to their routes (offered share in results)",
        "<= 1 s at the offered load",
        lambda v: v <= 1.0,
        achieved_key="freshness_achieved_ratio",
    ),
    Target(
        "freshness_unlinked_p99_s",
        "freshness p99 (s), outcomes without a decision (the worker encodes each prompt)",
        "(reported)",
        None,
    ),
    Target("hourly_batch_rows_per_s", "hourly batch (rows/s)", ">= 50,000", lambda v: v >= 50_000),
    Target(
        "consolidation_exponent", "consolidation scaling exponent", "<= 1.1", lambda v: v <= 1.1
    ),
    Target(
        "route_c4_p99_ms",
        "/api/route p99 at 4 clients (ms), prompts whose basins ship",
        "<= 20 ms",
        lambda v: v <= 20.0,
    ),
    Target(
        "route_fresh_c4_p99_ms",
        "/api/route p99 at 4 clients (ms), chat prompts never seen (each encoded)",
        "<= 20 ms",
        lambda v: v <= 20.0,
    ),
    Target(
        "worker_rss_growth",
        "worker RSS growth after 100k outcomes",
        "<= 10 %",
        lambda v: abs(v) <= 0.10,
    ),
    Target(
        "worker_main_rss_growth",
        "worker main process RSS growth (no children)",
        "<= 10 %",
        lambda v: abs(v) <= 0.10,
    ),
    Target(
        "web_rss_growth", "web RSS growth after 100k outcomes", "<= 10 %", lambda v: abs(v) <= 0.10
    ),
    Target(
        "web_rss_after_routes_growth",
        "web RSS growth after the freshness and routing phases (fresh prompts encoded)",
        "(reported)",
        None,
        baseline_key="web_rss_start_mb",
    ),
    Target(
        "table_growth_cost_ratio",
        "worst path cost at 10M stored / at 100k",
        "<= 1.2",
        lambda v: v <= 1.2,
    ),
)

#: The figure shown beside each ratio target, so the table shows absolute values too.
SHOWN_FIGURE: dict[str, str] = {
    "intake_batch_ratio_copy": "intake_batch_per_s",
    "intake_single_ratio_noop": "intake_single_per_s",
    "online_training_ratio_noop_default": "online_trained_per_s",
    "online_training_ratio_noop": "online_trained_per_s",
}


def rss_growth(results: Mapping[str, Any]) -> dict[str, float]:
    """RSS growth of each process from ``*_rss_start_mb``: to ``*_rss_after_mb`` (after
    the intake and the online drain) and, for the web, to ``web_rss_end_mb`` (read after
    the freshness and routing phases, whose routes encode the prompts the web has no
    basin for: what its encoder memory costs)."""

    def growth(start: Any, end: Any) -> float:
        return ratio(end, start) - 1 if start and end else math.nan

    out = {
        f"{name}_rss_growth": growth(
            results.get(f"{name}_rss_start_mb"), results.get(f"{name}_rss_after_mb")
        )
        for name in ("worker", "web", "worker_main")
    }
    out["web_rss_after_routes_growth"] = growth(
        results.get("web_rss_start_mb"), results.get("web_rss_end_mb")
    )
    return out


#: The share of an offered load a run must achieve for its figure to count as measured at it.
MIN_ACHIEVED = 0.95


def verdict(target: Target, results: Mapping[str, Any]) -> str:
    value = results.get(target.key)
    if target.check is None:
        return "-"
    if not isinstance(value, int | float) or math.isnan(value):
        return "n/a"
    if target.achieved_key is not None:
        achieved = results.get(target.achieved_key)
        if not isinstance(achieved, int | float) or not achieved >= MIN_ACHIEVED:
            return "MISS (load)"
    return "PASS" if target.check(float(value)) else "MISS"


def fmt(value: Any) -> str:
    """A number as a person reads it: thousands separated, 3 significant digits below 100."""
    if not isinstance(value, int | float):
        return "-" if value is None else str(value)
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def results_table(results: Mapping[str, Any]) -> list[list[str]]:
    """Rows of [figure, measured, baseline, ratio/value checked, target, verdict]."""
    rows = []
    for target in TARGETS:
        shown = SHOWN_FIGURE.get(target.key)
        measured = results.get(shown) if shown else results.get(target.key)
        baseline = results.get(target.baseline_key) if target.baseline_key else None
        checked = results.get(target.key)
        if target.key.endswith("_growth") and isinstance(checked, int | float):
            checked_text = "n/a" if math.isnan(checked) else f"{checked * 100:+.1f} %"
            measured_text = checked_text
        else:
            checked_text = fmt(checked)
            measured_text = fmt(measured)
        rows.append(
            [
                target.label,
                measured_text,
                fmt(baseline) if target.baseline_key else "-",
                checked_text if shown else "-",
                target.goal,
                verdict(target, results),
            ]
        )
    return rows


TABLE_HEADER = ["figure", "measured", "same-run baseline", "ratio", "target", "verdict"]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
