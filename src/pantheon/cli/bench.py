"""``pantheon bench <benchmark>``: one sub-command per benchmark.

Each module in :data:`BENCH_MODULES` exposes ``register_bench(benchmarks)`` and adds its
own sub-parser (``set_defaults(func=...)``); a missing module is skipped, so benchmarks
can be added one module at a time. ``routing`` lives here.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pantheon.cli.progress import step_progress
from pantheon.config import Settings

#: Modules adding ``pantheon bench`` sub-commands besides ``routing`` (sibling benchmarks).
BENCH_MODULES: tuple[str, ...] = ("pantheon.cli.bench_pipeline", "pantheon.cli.bench_online")


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help="benchmarks: routing quality, pipeline throughput")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    register_routing(benchmarks)
    for name in BENCH_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register_bench(benchmarks)


def register_routing(benchmarks: Any) -> None:
    routing = benchmarks.add_parser(
        "routing",
        help="train on one outcome file, route another's prompts, print APGR and CPT",
        description="Train kernels from the --train outcomes (intake, online steps, hourly "
        "batch, nightly consolidation; sync mode on a throwaway SQLite database), route every "
        "--test prompt between --strong and --weak by predicted reward, and print APGR, "
        "CPT(50%) and CPT(80%) beside random and oracle routing.",
    )
    routing.add_argument("--train", type=Path, required=True, help="training outcomes (JSONL)")
    routing.add_argument("--test", type=Path, required=True, help="held-out outcomes (JSONL)")
    routing.add_argument("--strong", required=True, help="the strong (expensive) god")
    routing.add_argument("--weak", required=True, help="the weak (cheap) god")
    routing.add_argument("--json", action="store_true", help="print the figures as JSON")
    routing.set_defaults(func=run_routing)


def run_routing(args: argparse.Namespace, settings: Settings) -> int:
    from pantheon.bench.routing import ROUTELLM_PUBLISHED, run_routing_bench

    console = Console(stderr=True)
    with step_progress(console, 16) as progress:
        report = run_routing_bench(
            settings,
            train=args.train,
            test=args.test,
            strong=args.strong,
            weak=args.weak,
            progress=progress,
        )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    result = report.result
    table = Table(title=f"Routing {result.prompts} test prompts")
    for column in ("router", "APGR", "CPT(50%)", "CPT(80%)"):
        table.add_column(column, justify="left" if column == "router" else "right")
    for row in result.routers:
        table.add_row(row.router, f"{row.apgr:.3f}", f"{row.cpt50:.1%}", f"{row.cpt80:.1%}")
    out = Console(markup=False, highlight=False)
    out.print(table)
    out.print(f"strong: {result.strong}; weak: {result.weak}")
    out.print(
        f"strong-only performance {result.strong_mean:.3f}, weak-only {result.weak_mean:.3f}; "
        f"trained on {report.train_outcomes} outcomes in {report.seconds:.0f}s"
    )
    out.print(
        "RouteLLM's published best: MMLU APGR "
        f"{ROUTELLM_PUBLISHED['mmlu_apgr']:.3f}, CPT(50%) {ROUTELLM_PUBLISHED['mmlu_cpt50']:.1%}; "
        f"GSM8K APGR {ROUTELLM_PUBLISHED['gsm8k_apgr']:.3f}; "
        f"MT-Bench APGR {ROUTELLM_PUBLISHED['mt_bench_apgr']:.3f}"
    )
    return 0
