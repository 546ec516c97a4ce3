"""Arguments of ``pantheon replay`` and ``pantheon import routellm``; they run in
:mod:`pantheon.cli.data`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pantheon.config import Role


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = sub.add_parser(
        "replay",
        help="replay JSON Lines of outcomes through the intake path",
        description="Store each line (a POST /api/outcomes body) and dispatch online "
        "training, exactly as the API does. Bad lines are reported and skipped.",
    )
    replay.add_argument("file", type=Path, help="JSON Lines file (.jsonl or .jsonl.gz)")
    replay.add_argument("--rate", type=float, default=None, help="at most N outcomes per second")
    replay.add_argument(
        "--register-gods",
        action="store_true",
        help="add gods missing from the roster to the roster file (PANTHEON_ROSTER_FILE, "
        "else $PANTHEON_DATA_DIR/roster.json) instead of refusing their lines",
    )
    replay.add_argument(
        "--chunk", type=int, default=500, help="outcomes stored per transaction (default 500)"
    )
    replay.set_defaults(runner="pantheon.cli.data:run_replay", production_role=Role.WRITER)

    imports = sub.add_parser("import", help="convert other projects' outcome data to JSON Lines")
    formats = imports.add_subparsers(dest="format", required=True, metavar="FORMAT")
    routellm = formats.add_parser(
        "routellm",
        help="RouteLLM benchmark CSVs and MT-Bench judgement JSON Lines",
        description="Convert RouteLLM evaluation files (or directories of them) to outcome "
        "JSON Lines: god = the model, success and score from the verdict.",
    )
    routellm.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    routellm.add_argument("--out", type=Path, required=True, help="output .jsonl (or .jsonl.gz)")
    routellm.add_argument(
        "--split",
        type=float,
        default=None,
        help="train fraction (e.g. 0.8): split by prompt, the rest goes to --test-out",
    )
    routellm.add_argument("--test-out", type=Path, default=None, help="held-out side of --split")
    routellm.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    routellm.add_argument(
        "--success-threshold",
        type=float,
        default=8.0,
        help="MT-Bench judge score counted as success (default 8)",
    )
    routellm.set_defaults(runner="pantheon.cli.data:run_import_routellm")
