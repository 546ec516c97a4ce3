"""Arguments of ``pantheon evaluate`` and ``pantheon calibrate``; they run in
:mod:`pantheon.cli.decisions`.

``--limit`` and ``--recent`` default to ``None``, read there as the training modules' own
defaults (``evaluation.DEFAULT_LIMIT``, ``calibration.DEFAULT_RECENT``): naming them here
would import the store and the engine to build the parser.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    evaluate = sub.add_parser(
        "evaluate",
        help="off-policy estimates (IPS, SNIPS, DR) of routing policies on logged decisions",
    )
    evaluate.add_argument("--days", type=float, default=None, help="only the last N days")
    evaluate.add_argument("--limit", type=int, default=None, help="newest N decisions")
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(runner="pantheon.cli.decisions:run_evaluate")
    calibrate = sub.add_parser(
        "calibrate",
        help="the cost_weight that sends a share of recent prompts to the most expensive god",
    )
    calibrate.add_argument("--share", type=float, required=True, help="e.g. 0.3")
    calibrate.add_argument("--recent", type=int, default=None, help="newest N decisions")
    calibrate.add_argument("--json", action="store_true", help="print the result as JSON")
    calibrate.set_defaults(runner="pantheon.cli.decisions:run_calibrate")
