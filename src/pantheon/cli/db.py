"""``pantheon db upgrade|downgrade|current|recoordize``: schema migrations, and stored
basins and kernels brought to the running coordizer (``training.representation``). Their
arguments are in :mod:`pantheon.cli.db_args`."""

from __future__ import annotations

import argparse

from rich.console import Console

from pantheon.cli.progress import step_progress
from pantheon.config import Settings
from pantheon.store import migrate
from pantheon.training import representation
from pantheon.training.service import TrainingService


def run_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    before = migrate.current(settings)
    migrate.upgrade(settings, args.revision)
    after = migrate.current(settings)
    if before == after:
        print(f"database already at {after or 'base'}")
    else:
        print(f"database upgraded {before or 'base'} -> {after or 'base'}")
    return 0


def run_downgrade(args: argparse.Namespace, settings: Settings) -> int:
    before = migrate.current(settings)
    migrate.downgrade(settings, args.revision)
    print(f"database downgraded {before or 'base'} -> {migrate.current(settings) or 'base'}")
    return 0


def run_current(_args: argparse.Namespace, settings: Settings) -> int:
    rev = migrate.current(settings)
    head = migrate.head_revision()
    state = "up to date" if rev == head else f"behind head {head}"
    print(f"{rev or 'base (empty)'} ({state})")
    return 0


def run_recoordize(_args: argparse.Namespace, settings: Settings) -> int:
    rev = migrate.current(settings)
    if rev != migrate.head_revision():
        print(
            f"database at {rev or 'base'}, not {migrate.head_revision()}: run `pantheon db upgrade`"
        )
        return 2
    service = TrainingService(settings)
    with step_progress(Console(stderr=True), label_width=8) as progress:
        result = representation.recoordize(service, progress)
    rebuilt = ", ".join(result.kernels_rebuilt) or "none"
    print(
        f"coordizer {result.coordizer_version}: {result.basins_written} basins recomputed; "
        f"kernels rebuilt: {rebuilt}; {result.kernels_current} already current "
        f"({result.duration_s:.1f} s)"
    )
    return 0
