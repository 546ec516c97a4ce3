"""``pantheon replay`` and ``pantheon import routellm``: real outcome data in and out.

Their arguments are in :mod:`pantheon.cli.data_args`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pantheon.config import Settings
from pantheon.datasets.jsonl import count_lines, iter_lines, write_lines
from pantheon.datasets.replay import build_replayer, gods_in, register_gods
from pantheon.datasets.routellm import ImportReport, convert, split_by_prompt
from pantheon.errors import ValidationError

#: Bad lines listed one by one before the summary only counts the rest.
MAX_BAD_LINES_SHOWN = 20


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
