"""``pantheon bench online``: learning to route from bandit feedback (real outcomes)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pantheon.cli.progress import step_progress
from pantheon.config import Settings


def register_bench(benchmarks: Any) -> None:
    online = benchmarks.add_parser(
        "online",
        help="replay outcomes as live traffic: route, post only the chosen verdict, learn",
        description="Replay --train (RouteLLM-format JSON Lines, both gods answered every "
        "prompt) as live traffic through the route -> outcome path (embedded, sync, SQLite in "
        "a temporary directory; the schedule on a simulated clock): only the chosen god's "
        "verdict is posted back. Prints held-out APGR on --test every N prompts for the "
        "exploring policy, greedy, random and full-information training, and the doubly "
        "robust estimate of the final greedy policy against its true value.",
    )
    online.add_argument("--train", type=Path, required=True, help="outcomes to replay (JSONL)")
    online.add_argument("--test", type=Path, required=True, help="held-out outcomes (JSONL)")
    online.add_argument("--strong", required=True, help="the strong (expensive) god")
    online.add_argument("--weak", required=True, help="the weak (cheap) god")
    online.add_argument("--every", type=int, default=1000, help="measure every N prompts")
    online.add_argument("--hours", type=int, default=24, help="simulated hours of traffic")
    online.add_argument("--limit", type=int, default=None, help="replay only N prompts")
    online.add_argument(
        "--chunk", type=int, default=32, help="prompts routed before their outcomes come back"
    )
    online.add_argument("--json", action="store_true", help="print the figures as JSON")
    online.set_defaults(func=run_online)


def run_online(args: argparse.Namespace, settings: Settings) -> int:
    from pantheon.bench.online import run_online_bench

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
