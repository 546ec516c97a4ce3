"""The bundled sample: small, attributed, in the outcome body shape, and reproducible."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pantheon.datasets.jsonl import iter_lines
from pantheon.roster import Roster

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_DIR = ROOT / "src" / "pantheon" / "data" / "sample"
SAMPLE = SAMPLE_DIR / "routellm_sample.jsonl.gz"
BODY_KEYS = {
    "god_name",
    "prompt",
    "response",
    "success",
    "score",
    "outcome_key",
    "source_type",
    "source_id",
}


def test_sample_is_small_and_attributed() -> None:
    assert SAMPLE.stat().st_size < 3_000_000
    assert "Apache License" in (SAMPLE_DIR / "LICENSE").read_text(encoding="utf-8")
    notice = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    assert "lm-sys/RouteLLM" in notice
    assert "0b64fdafe049e596a3f5657c219329f24af24198" in notice
    assert "What was changed" in notice


def test_sample_lines_are_outcome_bodies_of_the_roster_gods() -> None:
    roster = Roster.from_file(SAMPLE_DIR / "roster.json")
    lines = list(iter_lines(SAMPLE))
    assert all(line.record is not None for line in lines)
    records = [line.record for line in lines if line.record is not None]
    assert 2_000 <= len(records) <= 10_000
    assert all(set(r) == BODY_KEYS for r in records)
    assert all(r["god_name"] in roster for r in records)
    assert len({r["outcome_key"] for r in records}) == len(records)
    per_god = Counter(r["god_name"] for r in records)
    assert len(per_god) == len(roster) == 2
    # Every prompt carries both models' verdicts, so routing between them can be scored.
    assert len(set(per_god.values())) == 1


def test_sample_regenerates_byte_for_byte(routellm_dir: Path, tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "make_sample.py"),
            "--source",
            str(routellm_dir),
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    assert (tmp_path / SAMPLE.name).read_bytes() == SAMPLE.read_bytes()
    assert (tmp_path / "roster.json").read_bytes() == (SAMPLE_DIR / "roster.json").read_bytes()
