"""Runners of ``pantheon bench routing`` and ``pantheon bench online`` (their arguments are
in :mod:`pantheon.cli.bench_args`): routing quality on outcome files.

Both read RouteLLM-format outcome files (every prompt answered by both gods) and share
one definition of the split they run on (``--train``/``--test``/``--strong``/``--weak``).
The pipeline benchmark and the reliability suite drive real processes and private services,
so they live in the checkout beside the package and run as modules from its root
(``python -m benchmarks.pipeline``, ``make bench``), not as commands of the package.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TypeVar

from rich.console import Console
from rich.table import Table

from pantheon.bench.online import ARMS, run_online_bench
from pantheon.bench.routing import ROUTELLM_PUBLISHED, run_routing_bench
from pantheon.cli.progress import step_progress
from pantheon.config import Settings

R = TypeVar("R")


def on_split(
    run: Callable[..., R], args: argparse.Namespace, settings: Settings, **options: object
) -> R:
    """``run`` on the command's split, with a progress bar on stderr."""
    with step_progress(Console(stderr=True), 16) as progress:
        return run(
            settings,
            train=args.train,
            test=args.test,
            strong=args.strong,
            weak=args.weak,
            progress=progress,
            **options,
        )


def run_routing(args: argparse.Namespace, settings: Settings) -> int:
    report = on_split(run_routing_bench, args, settings)
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


def run_online(args: argparse.Namespace, settings: Settings) -> int:
    report = on_split(
        run_online_bench,
        args,
        settings,
        every=max(1, args.every),
        hours=max(1, args.hours),
        limit=args.limit,
        chunk_size=max(1, args.chunk),
        arms=ARMS if args.arms is None else [a.strip() for a in args.arms.split(",") if a.strip()],
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

    def fmt(key: str, spec: str = ".3f") -> str:
        value = body[key]
        return "-" if value is None else format(value, spec)

    out.print(
        f"success while learning: bandit {fmt('success_bandit')}, greedy "
        f"{fmt('success_greedy')}, random {fmt('success_random')}; bandit sent "
        f"{fmt('strong_share', '.1%')} to {report.strong}"
    )
    if body["ope_dr"] is not None:
        out.print(
            f"final greedy policy's success: doubly robust {body['ope_dr']:.4f} "
            f"(95% CI {body['ope_dr_ci95'][0]:.4f}..{body['ope_dr_ci95'][1]:.4f}), true "
            f"{body['ope_true']:.4f}, error {body['ope_abs_error']:.4f}"
        )
    return 0
