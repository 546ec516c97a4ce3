"""``pantheon demo``: the main job on the embedded default, with a table and a report.

Its arguments are in :mod:`pantheon.cli.demo_args`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from pantheon.cli.progress import step_progress
from pantheon.config import Settings
from pantheon.demo.report import GOD_HEADERS, ROUTING_HEADERS, god_rows, routing_rows, write_report
from pantheon.demo.run import Demo
from pantheon.errors import ValidationError

#: Width of the tables when stdout is not a terminal and COLUMNS is unset: wide enough
#: for every column, so a log file or a pipe gets whole rows instead of Rich's 80.
UNBOUNDED_WIDTH = 1000


def demo_console() -> Console:
    """A terminal gets its own width; a pipe or file gets whole tables (see
    :func:`print_whole`)."""
    console = Console(markup=False, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(markup=False, highlight=False, width=UNBOUNDED_WIDTH)
    return console


def print_whole(console: Console, table: Table) -> None:
    """Print ``table`` at its natural width (never cut or wrapped off a terminal)."""
    if console.is_terminal or "COLUMNS" in os.environ:
        console.print(table)
        return
    natural = Measurement.get(console, console.options, table).maximum
    console.print(table, width=min(natural, UNBOUNDED_WIDTH))


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    console = demo_console()
    if args.data_dir is not None:
        data_dir: Path = args.data_dir
        if data_dir.exists() and any(data_dir.iterdir()):
            raise ValidationError(f"--data-dir {data_dir} is not empty; the demo needs a fresh one")
        data_dir.mkdir(parents=True, exist_ok=True)
        temporary = False
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="pantheon-demo-"))
        temporary = not args.keep
    report_path: Path = args.report or Path("reports") / "pantheon-demo.html"
    try:
        with step_progress(console, 34) as progress:
            demo = Demo(settings, data_dir, progress)
            try:
                result = demo.run()
            finally:
                demo.close()
        write_report(result, report_path, kept=not temporary)
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)

    gods = Table(title=f"Gods after {result.train_outcomes} replayed outcomes")
    for header in GOD_HEADERS:
        gods.add_column(header, justify="left" if header == "god" else "right")
    for row in god_rows(result):
        gods.add_row(*row)
    print_whole(console, gods)
    routing = Table(title=f"Routing {result.routing.prompts} held-out prompts")
    for header in ROUTING_HEADERS:
        routing.add_column(header, justify="left" if header == "router" else "right")
    for row in routing_rows(result):
        routing.add_row(*row)
    print_whole(console, routing)
    console.print(
        f"strong: {result.strong}; weak: {result.weak}; coordizer: {result.coordizer_version}"
    )
    console.print(
        "APGR: area under the performance gap recovered over the share of strong calls "
        "(random 0.5); CPT(x): strong calls needed to recover x of the gap; accuracy: "
        "held-out verdicts predicted right (p >= 0.5), beside always predicting the "
        "god's majority verdict."
    )
    if result.live is not None:
        console.print(
            f"live traffic (routed, own choices only): held-out APGR {result.live.apgr:.3f} "
            f"vs {result.curve[-1].apgr:.3f} with full information; "
            f"{result.live.strong_share:.0%} of prompts sent to {result.strong}"
        )
    console.print(f"demo finished in {result.seconds:.1f}s")
    console.print(f"report: {report_path.resolve()}")
    return 0
