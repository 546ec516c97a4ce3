"""``pantheon bench online``: learning to route from bandit feedback (real outcomes).

Its arguments are in :mod:`pantheon.cli.bench_args`.
"""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from pantheon.benchmarks_online import run_online_bench
from pantheon.cli.progress import step_progress
from pantheon.config import Settings


def run_online(args: argparse.Namespace, settings: Settings) -> int:
    console = Console(stderr=True)
    with step_progress(console, 16) as progress:
        report = run_online_bench(
            settings,
            train=args.train,
            test=args.test,
            strong=args.strong,
            weak=args.weak,
            every=max(1, args.every),
            hours=max(1, args.hours),
            limit=args.limit,
            chunk_size=max(1, args.chunk),
            progress=progress,
        )
    body = report.to_json()
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    out = Console(markup=False, highlight=False)
    table = Table(title=f"Held-out APGR while learning from {report.prompts} routed prompts")
    arms = list(report.arms)
    table.add_column("prompts", justify="right")
    for arm in arms:
        table.add_column(arm, justify="right")
    for row in body["learning_curve"]:
        table.add_row(str(row["prompts"]), *(f"{row[a]:.3f}" for a in arms))
    out.print(table)
    out.print(
        f"success while learning: bandit {body['success_bandit']:.3f}, greedy "
        f"{body['success_greedy']:.3f}, random {body['success_random']:.3f}; bandit sent "
        f"{body['strong_share']:.1%} to {report.strong}"
    )
    out.print(
        f"final greedy policy's success: doubly robust {body['ope_dr']:.4f} "
        f"(95% CI {body['ope_dr_ci95'][0]:.4f}..{body['ope_dr_ci95'][1]:.4f}), true "
        f"{body['ope_true']:.4f}, error {body['ope_abs_error']:.4f}"
    )
    return 0
