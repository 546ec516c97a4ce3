"""Replay into the store of record, on SQLite and on a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pantheon.config import Settings
from pantheon.datasets.jsonl import iter_lines, write_lines
from pantheon.datasets.replay import build_replayer
from pantheon.store.migrate import ensure_schema
from pantheon.training import queries

pytestmark = pytest.mark.integration

SAMPLE_DIR = Path(__file__).resolve().parents[3] / "src" / "pantheon" / "data" / "sample"


def test_sample_slice_replays_and_trains_online(
    database_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    records = [r.record for r in iter_lines(SAMPLE_DIR / "routellm_sample.jsonl.gz")][:400]
    path = tmp_path / "slice.jsonl"
    write_lines([r for r in records if r], path)
    settings = make_settings(database_url_raw=database_url, roster_file=SAMPLE_DIR / "roster.json")
    ensure_schema(settings)  # production runs `pantheon db upgrade` first
    replayer = build_replayer(settings)
    report = replayer.replay_lines(iter_lines(path), chunk=64)
    assert report.accepted == 400
    assert not report.bad
    assert report.dispatched >= 2
    kernels = {k["god_name"]: k for k in queries.list_kernels(replayer.service)}
    trained = sum(kernels[g]["outcomes_trained"] for g in replayer.roster.names)
    assert trained == 400  # every stored outcome trained online exactly once
    again = replayer.replay_lines(iter_lines(path), chunk=64)
    assert (again.accepted, again.duplicates) == (0, 400)
    replayer.service.database.dispose()
