"""``pantheon replay`` and ``pantheon import routellm``: real outcome data in and out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pantheon.config import Role, Settings
from pantheon.datasets.jsonl import iter_lines, write_lines
from pantheon.datasets.replay import build_replayer, count_lines, gods_in, register_gods
from pantheon.datasets.routellm import ImportReport, convert, split_by_prompt
from pantheon.errors import ValidationError

#: Bad lines listed one by one before the summary only counts the rest.
MAX_BAD_LINES_SHOWN = 20


def register(sub: Any) -> None:
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
    replay.set_defaults(func=run_replay, production_role=Role.WRITER)

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
    routellm.set_defaults(func=run_import_routellm)


def run_import_routellm(args: argparse.Namespace, settings: Settings) -> int:
    if (args.split is None) != (args.test_out is None):
        raise ValidationError("--split and --test-out go together")
    console = Console(stderr=True, markup=False, highlight=False)
    report = ImportReport()
    outcomes = convert(args.paths, report, success_threshold=args.success_threshold)
    if args.split is None:
        written = write_lines(outcomes, args.out)
        console.print(f"wrote {written} outcomes to {args.out}")
    else:
        train, test = split_by_prompt(outcomes, args.split, seed=args.seed)
        write_lines(train, args.out)
        write_lines(test, args.test_out)
        console.print(
            f"wrote {len(train)} outcomes to {args.out} and {len(test)} to {args.test_out} "
            f"(split {args.split:g} by prompt, seed {args.seed})"
        )
    console.print(
        f"read {report.rows} rows from {report.files} file(s); skipped {len(report.skipped)}"
    )
    for reason in report.skipped[:MAX_BAD_LINES_SHOWN]:
        console.print(f"  skipped {reason}")
    return 0


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.file
    if not path.is_file():
        raise ValidationError(f"{path}: no such file")
    console = Console(stderr=True, markup=False, highlight=False)
    if args.register_gods:
        settings, added = register_gods(settings, gods_in(path))
        if added:
            console.print(
                f"registered {len(added)} new god(s) in {settings.roster_file}: "
                f"{', '.join(added)}; run the web service and workers with "
                f"PANTHEON_ROSTER_FILE={settings.roster_file}"
            )
    replayer = build_replayer(settings)
    total = count_lines(path)
    with Progress(
        TextColumn("replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("replay", total=total)
        report = replayer.replay_lines(
            iter_lines(path),
            chunk=max(1, args.chunk),
            rate=args.rate,
            on_progress=lambda n: progress.advance(task, n),
        )
    for number, reason in report.bad[:MAX_BAD_LINES_SHOWN]:
        console.print(f"line {number}: {reason}")
    if len(report.bad) > MAX_BAD_LINES_SHOWN:
        console.print(f"... and {len(report.bad) - MAX_BAD_LINES_SHOWN} more bad lines")
    modes = ", ".join(f"{k}={v}" for k, v in sorted(report.modes.items())) or "none"
    print(
        f"replayed {report.lines} lines: accepted={report.accepted} "
        f"duplicates={report.duplicates} bad={len(report.bad)} "
        f"dispatched={report.dispatched} ({modes}) in {report.seconds:.1f}s "
        f"({report.rate:.0f} outcomes/s)"
    )
    for god, count in sorted(report.per_god.items()):
        print(f"  {god}: {count} new outcomes")
    return 0 if not report.bad else 3
