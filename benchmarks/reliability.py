"""``make reliability``: every fault scenario against real processes, repeated, one table.

    python -m benchmarks.reliability                  # the full suite (tens of minutes)
    python -m benchmarks.reliability --reps-scale 0.1 # every scenario, fewer repetitions
    python -m benchmarks.reliability --only 1,2 --reps 3

Runs on a private Redis and a private PostgreSQL cluster (free loopback ports), so it can
stop and restart them freely. Writes ``bench-results/reliability.json``; the last line is
``reliability: <S> scenarios, <R> runs, lost=<n>, duplicated=<n>, failed=<n>``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import ROOT
from benchmarks.scenarios import SCENARIOS, RunResult
from pantheon.testing import Stack, StackError

#: Delivery scenarios worth repeating with RabbitMQ (its redelivery differs from Redis's).
AMQP_SCENARIOS = ("1", "5", "6")

HEADER = (
    "scenario",
    "reps",
    "sent",
    "accepted",
    "trained once",
    "lost",
    "duplicated",
    "max recovery s",
    "max redelivery s",
    "failed",
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.reliability", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--only", default="", help="comma-separated scenario numbers (1-10)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions for every scenario")
    parser.add_argument(
        "--reps-scale",
        type=float,
        default=1.0,
        help="multiply each scenario's default repetitions (at least 1)",
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="logs (default: a temp dir)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "reliability.json")
    parser.add_argument(
        "--broker",
        choices=("redis", "rabbitmq"),
        default="redis",
        help="the Celery broker (rabbitmq: a private vhost on the machine's :5672)",
    )
    parser.add_argument(
        "--amqp-reps",
        type=int,
        default=3,
        help="repetitions of scenarios 1, 5 and 6 again with RabbitMQ as the broker (0: none)",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=90.0,
        help="stop starting new repetitions after this long",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[RunResult]:
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="pantheon-reliability-"))
    deadline = time.monotonic() + args.max_minutes * 60
    results: list[RunResult] = []
    print(f"run dir: {run_dir}", flush=True)
    plan = [(number, _reps(args, number)) for number in chosen]
    with Stack(run_dir / "main", rabbitmq=args.broker == "rabbitmq") as stack:
        suffix = "" if args.broker == "redis" else "/amqp"
        results += _run_plan(stack, plan, suffix, deadline)
    # The same delivery scenarios once more with RabbitMQ as the broker.
    amqp = [(n, args.amqp_reps) for n in AMQP_SCENARIOS if n in chosen and args.amqp_reps > 0]
    if amqp and args.broker == "redis":
        try:
            with Stack(run_dir / "amqp", rabbitmq=True) as stack:
                results += _run_plan(stack, amqp, "/amqp", deadline)
        except StackError as exc:
            print(f"RabbitMQ runs skipped: {exc}", flush=True)
    return results


def _reps(args: argparse.Namespace, number: str) -> int:
    return int(args.reps or max(1, math.ceil(SCENARIOS[number][2] * args.reps_scale)))


def _run_plan(
    stack: Stack, plan: Sequence[tuple[str, int]], suffix: str, deadline: float
) -> list[RunResult]:
    results: list[RunResult] = []
    for number, reps in plan:
        title, function, _ = SCENARIOS[number]
        for index in range(reps):
            if time.monotonic() > deadline:
                print(f"time budget spent: scenario {number} stopped at {index}/{reps}")
                break
            began = time.monotonic()
            try:
                got = function(stack, index)
            except Exception as exc:  # a crashed run is a failed run, not a crashed suite
                failure = [f"{type(exc).__name__}: {exc}", traceback.format_exc()[-2000:]]
                got = [RunResult(number, title, failures=failure)]
            for result in got:
                result.scenario += suffix
                result.run_dir = str(stack.run_dir)
                result.extra["seconds"] = round(time.monotonic() - began, 1)
                status = "ok" if result.ok else "FAILED: " + "; ".join(result.failures)[:300]
                print(
                    f"[{result.scenario} {index + 1}/{reps}] lost={result.lost} "
                    f"dup={result.duplicated} rec={_fmt(result.recovery_s)} "
                    f"redeliv={_fmt(result.redelivery_s)} {status}",
                    flush=True,
                )
            results.extend(got)
    return results


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(results: Sequence[RunResult]) -> list[tuple[str, ...]]:
    groups: dict[str, list[RunResult]] = defaultdict(list)
    for result in results:
        groups[result.scenario].append(result)
    rows: list[tuple[str, ...]] = []
    for scenario in sorted(groups, key=lambda s: (int("".join(c for c in s if c.isdigit())), s)):
        runs = groups[scenario]
        recov = [r.recovery_s for r in runs if r.recovery_s is not None]
        redel = [r.redelivery_s for r in runs if r.redelivery_s is not None]
        unit = "" if runs[0].unit == "outcomes" else f" {runs[0].unit}"
        rows.append(
            (
                f"{scenario} {runs[0].title}",
                str(len(runs)),
                f"{sum(r.sent for r in runs)}{unit}",
                f"{sum(r.accepted for r in runs)}{unit}",
                f"{sum(r.trained_once for r in runs)}{unit}",
                str(sum(r.lost for r in runs)),
                str(sum(r.duplicated for r in runs)),
                _fmt(max(recov) if recov else None),
                _fmt(max(redel) if redel else None),
                str(sum(1 for r in runs if not r.ok)),
            )
        )
    return rows


def render(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate([HEADER, *rows]):
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_line(results: Sequence[RunResult]) -> str:
    scenarios = {"".join(c for c in r.scenario if c.isdigit()) for r in results}
    return (
        f"reliability: {len(scenarios)} scenarios, {len(results)} runs, "
        f"lost={sum(r.lost for r in results)}, "
        f"duplicated={sum(r.duplicated for r in results)}, "
        f"failed={sum(1 for r in results if not r.ok)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    rows = table(results)
    failures = [(r.scenario, r.failures) for r in results if r.failures]
    for scenario, messages in failures:
        print(f"failure in {scenario}: {messages[0][:500]}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "summary": summary_line(results),
        "table": [dict(zip(HEADER, row, strict=True)) for row in rows],
        "runs": [r.as_dict() for r in results],
    }
    args.output.write_text(json.dumps(payload, indent=2, default=str))
    print(render(rows))
    print(summary_line(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
