"""``pantheon bench routing``: routing quality on outcome files.

The arguments of every ``pantheon bench`` sub-command are in :mod:`pantheon.cli.bench_args`.
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from pantheon.benchmarks_routing import ROUTELLM_PUBLISHED, run_routing_bench
from pantheon.cli.progress import step_progress
from pantheon.config import Settings


def run_routing(args: argparse.Namespace, settings: Settings) -> int:
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
