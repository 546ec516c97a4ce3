"""Arguments of ``pantheon demo``; it runs in :mod:`pantheon.cli.demo`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo",
        help="replay the bundled real outcomes through every training job; table and report",
        description="On a fresh SQLite database with in-process tasks, replay 80% of the "
        "bundled RouteLLM sample through the intake while the embedded scheduler fires the "
        "schedule on a simulated clock (hourly batches, nightly consolidation, shadow syncs, "
        "checkpoint cleanup), plus a knowledge transfer and checkpoints; then measure each "
        "god and the routing on the held-out 20% of the prompts.",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the demo's database and checkpoints go (default: a fresh temp dir)",
    )
    demo.add_argument(
        "--report",
        type=Path,
        default=None,
        help="HTML report path (default: reports/pantheon-demo.html)",
    )
    demo.add_argument(
        "--keep", action="store_true", help="keep the temporary data directory afterwards"
    )
    # The demo's console shows its progress and figures; routine records (migrations,
    # task starts, libraries set up at import) stay below WARNING unless --log-level asks.
    demo.set_defaults(runner="pantheon.cli.demo:run_demo", log_floor=logging.WARNING)
