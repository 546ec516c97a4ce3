"""Arguments of ``pantheon bench <benchmark>``: ``routing`` and ``online``, both run in
:mod:`pantheon.cli.bench`.

Both read RouteLLM-format outcome files (every prompt answered by both gods) and share
one definition of the split they run on (``--train``/``--test``/``--strong``/``--weak``).
The pipeline benchmark and the reliability suite drive real processes and private services,
so they live in the checkout beside the package and run as modules from its root
(``python -m benchmarks.pipeline``, ``make bench``), not as commands of the package.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", help="benchmarks: routing quality, learning online")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    routing = benchmarks.add_parser(
        "routing",
        help="train on one outcome file, route another's prompts, print APGR and CPT",
        description="Train kernels from the --train outcomes (intake, online steps, hourly "
        "batch, nightly consolidation; sync mode on a throwaway SQLite database), route every "
        "--test prompt between --strong and --weak by predicted reward, and print APGR, "
        "CPT(50%) and CPT(80%) beside TF-IDF + logistic regression fitted on the same "
        "--train file in the same run, random and oracle routing.",
    )
    add_split_arguments(routing, train_help="training outcomes (JSONL)")
    routing.set_defaults(runner="pantheon.cli.bench:run_routing")

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
    add_split_arguments(online, train_help="outcomes to replay (JSONL)")
    online.add_argument("--every", type=int, default=1000, help="measure every N prompts")
    online.add_argument("--hours", type=int, default=24, help="simulated hours of traffic")
    online.add_argument("--limit", type=int, default=None, help="replay only N prompts")
    online.add_argument(
        "--chunk", type=int, default=32, help="prompts routed before their outcomes come back"
    )
    online.add_argument(
        "--arms",
        default=None,
        help="comma-separated arms to run among bandit, greedy, random, full_information "
        "(default all four); the others report null",
    )
    online.set_defaults(runner="pantheon.cli.bench:run_online")


def add_split_arguments(parser: argparse.ArgumentParser, train_help: str) -> None:
    """The split a routing benchmark runs on, and ``--json``."""
    parser.add_argument("--train", type=Path, required=True, help=train_help)
    parser.add_argument("--test", type=Path, required=True, help="held-out outcomes (JSONL)")
    parser.add_argument("--strong", required=True, help="the strong (expensive) god")
    parser.add_argument("--weak", required=True, help="the weak (cheap) god")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
