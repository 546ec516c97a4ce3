"""What the pipeline benchmark writes: results.json, results.md and PNG plots."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

from benchmarks.pipeline_stats import TABLE_HEADER, markdown_table, results_table


def _clean(value: Any) -> Any:
    """JSON has no NaN: write null instead (and say nothing false)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, results: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(_clean(results), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def markdown(results: Mapping[str, Any], notes: Sequence[str], context: Sequence[str]) -> str:
    lines = ["# Pipeline benchmark", ""]
    lines += [f"- {c}" for c in context]
    lines += ["", markdown_table(TABLE_HEADER, results_table(results)), ""]
    detail_keys = sorted(k for k in results if k not in {"context", "notes"})
    lines += ["## Every figure", "", "| key | value |", "| --- | --- |"]
    lines += [f"| {k} | {_short(results[k])} |" for k in detail_keys]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, list | dict):
        text = json.dumps(_clean(value))
        return text if len(text) < 200 else text[:197] + "..."
    return str(value)


def plots(out_dir: Path, results: Mapping[str, Any], series: Mapping[str, Any]) -> list[Path]:
    """One PNG per view; a view without data is skipped."""
    matplotlib.use("Agg")
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    table = series.get("intake_single") or []
    if table:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        conc = [e["concurrency"] for e in table]
        left.plot(conc, [e["per_s"] for e in table], "o-", label="POST /api/outcomes")
        if "noop_per_s" in table[0]:
            left.plot(conc, [e["noop_per_s"] for e in table], "s--", label="no-op endpoint")
        left.set(xlabel="concurrent clients", ylabel="outcomes/s", title="intake, single")
        left.legend()
        right.plot(conc, [e["p50_ms"] for e in table], "o-", label="p50")
        right.plot(conc, [e["p99_ms"] for e in table], "o-", label="p99")
        if "noop_p99_ms" in table[0]:
            right.plot(conc, [e["noop_p99_ms"] for e in table], "s--", label="no-op p99")
        right.set(xlabel="concurrent clients", ylabel="ms", title="intake latency")
        right.legend()
        save(fig, "intake_single.png")

    stamps = series.get("online_stamps") or []
    if len(stamps) > 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        t0 = stamps[0]
        ax.plot([s - t0 for s in stamps], range(1, len(stamps) + 1))
        ax.set(
            xlabel="seconds since the first online step",
            ylabel="outcomes trained online",
            title=f"online drain: {results.get('online_trained_per_s', math.nan):,.0f}/s",
        )
        save(fig, "online_drain.png")

    ages = series.get("freshness_ages") or []
    if ages:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(sorted(ages), [(i + 1) / len(ages) for i in range(len(ages))])
        ax.axvline(1.0, color="grey", linestyle=":", label="target p99 1 s")
        ax.set(xlabel="seconds from 2xx to trained online", ylabel="share of outcomes",
               title="freshness (CDF)")  # fmt: skip
        ax.legend()
        save(fig, "freshness.png")

    for key, title in (("consolidation_service", "service"), ("consolidation_engine", "engine")):
        data = series.get(key)
        if not data:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.loglog(data["sizes"], data["seconds"], "o-")
        ax.set(xlabel="outcomes", ylabel="seconds",
               title=f"consolidation ({title}): exponent {data['exponent']:.2f}")  # fmt: skip
        save(fig, f"{key}.png")

    route = series.get("route_latencies_ms") or []
    if route:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(route, bins=50)
        ax.axvline(20.0, color="grey", linestyle=":", label="target p99 20 ms")
        ax.set(xlabel="ms", ylabel="requests", title="POST /api/route latency (1 client)")
        ax.legend()
        save(fig, "route_latency.png")
    return written
