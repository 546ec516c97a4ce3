"""``pantheon evaluate`` and ``pantheon calibrate``: what the recorded decisions say.

Their arguments are in :mod:`pantheon.cli.decisions_args`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import timedelta

from rich.console import Console
from rich.table import Table

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.learning.offpolicy import Estimate
from pantheon.store.migrate import ensure_schema
from pantheon.training import calibration, evaluation
from pantheon.training.service import TrainingService


def _service(settings: Settings) -> TrainingService:
    if settings.is_sqlite:
        ensure_schema(settings)
    return TrainingService(settings)


def _cell(e: Estimate) -> str:
    return f"{e.value:.3f} [{e.low:.3f}, {e.high:.3f}]"


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    since = utcnow() - timedelta(days=args.days) if args.days else None
    limit = evaluation.DEFAULT_LIMIT if args.limit is None else args.limit
    report = evaluation.evaluate(_service(settings), since=since, limit=limit)
    if args.json:
        print(json.dumps(asdict(report), indent=2, default=str))
        return 0
    out = Console(markup=False, highlight=False)
    if not report.decisions:
        out.print(report.note)
        return 0
    table = Table(title=f"Success rate on {report.decisions} logged decisions (95% CI)")
    for column in ("policy", "IPS", "SNIPS", "DR", "cost/call"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for p in report.policies:
        table.add_row(p.policy, _cell(p.ips), _cell(p.snips), _cell(p.dr), f"{p.expected_cost:.3f}")
    out.print(table)
    out.print(report.note)
    return 0


def run_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    recent = calibration.DEFAULT_RECENT if args.recent is None else args.recent
    result = calibration.calibrate(_service(settings), args.share, recent=recent)
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return 0
    print(
        f"cost_weight {result.cost_weight:.6g} sends {result.achieved_share:.1%} of the last "
        f"{result.prompts} routed prompts to {result.god_name} (asked: {result.share:.1%}); "
        "pass it as cost_weight to POST /api/route"
    )
    return 0
