"""``pantheon bench online`` in-process: every arm replays the same prompts, encoded once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import TypedDict

import numpy as np
import pytest
from numpy.typing import NDArray

from pantheon.bench.online import ARMS, open_arm, run_online_bench
from pantheon.config import Settings
from pantheon.datasets.jsonl import iter_lines
from pantheon.datasets.routellm import split_by_prompt
from pantheon.learning import coordizer

pytestmark = pytest.mark.unit

SAMPLE = Path(coordizer.__file__).resolve().parents[1] / "data" / "sample"
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"


class BenchOptions(TypedDict):
    """The keyword arguments of ``run_online_bench`` every arm of a comparison shares."""

    train: Path
    test: Path
    strong: str
    weak: str
    every: int
    hours: int
    limit: int | None
    basin_dir: Path | None


def _split_files(tmp_path: Path) -> dict[str, Path]:
    records = [
        line.record
        for line in iter_lines(SAMPLE / "routellm_sample.jsonl.gz")
        if line.record is not None
    ]
    train, test = split_by_prompt(records, 0.8, seed=0)
    files = {}
    for name, rows in (("train", train), ("test", test[:40])):
        files[name] = tmp_path / f"{name}.jsonl"
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return files


def test_each_training_prompt_is_encoded_once_for_all_arms(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_settings: Callable[..., Settings],
) -> None:
    files = _split_files(tmp_path)

    encoded: Counter[str] = Counter()
    real = coordizer.coordize_many

    def counting(texts: Iterable[str], threads: int = 1) -> NDArray[np.float64]:
        items = list(texts)
        encoded.update(items)
        return real(items, threads=threads)

    monkeypatch.setattr(coordizer, "coordize_many", counting)
    report = run_online_bench(
        make_settings(),
        train=files["train"],
        test=files["test"],
        strong=STRONG,
        weak=WEAK,
        every=30,
        hours=2,
        limit=60,
        basin_dir=tmp_path / "basins",
    )
    assert report.prompts == 60
    assert len(ARMS) == 4
    # Routes, intake and every training claim of the four arms read the shared cache.
    assert encoded, "the training prompts went through the encoder"
    assert max(encoded.values()) == 1


def test_the_replayed_day_ends_with_its_nightly_consolidation(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    arm = open_arm("bandit", make_settings(), tmp_path, STRONG, WEAK, day_hours=24)
    try:
        fired = [
            name for _h in range(23) for name, _slot in arm.schedule.advance(timedelta(hours=1))
        ]
        assert "hourly_batch" in fired
        assert "nightly_consolidation" not in fired, "no night before the day's traffic is in"
        last = [name for name, _slot in arm.schedule.advance(timedelta(hours=1))]
        assert "nightly_consolidation" in last
    finally:
        arm.close()


def test_an_arm_run_alone_gives_the_figures_it_gives_beside_the_others(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    """Arms share only the prompts and their basins, so a policy can be replayed alone
    and compared with the other arms of a full run of the same seed."""
    files = _split_files(tmp_path)
    options: BenchOptions = {
        "train": files["train"],
        "test": files["test"],
        "strong": STRONG,
        "weak": WEAK,
        "every": 30,
        "hours": 2,
        "limit": 60,
        "basin_dir": tmp_path / "basins",
    }
    both = run_online_bench(make_settings(), arms=("bandit", "greedy"), **options).to_json()
    alone = run_online_bench(make_settings(), arms=("bandit",), **options).to_json()
    assert alone["arms"] == ["bandit"]
    assert alone["apgr_greedy"] is None
    for key in ("apgr_bandit", "success_bandit", "strong_share", "ope_dr", "ope_true"):
        assert alone[key] == both[key], key
    assert [row["bandit"] for row in alone["learning_curve"]] == [
        row["bandit"] for row in both["learning_curve"]
    ]
    greedy_only = run_online_bench(make_settings(), arms=("greedy",), **options).to_json()
    assert greedy_only["ope_abs_error"] is None
    assert greedy_only["apgr_greedy"] == both["apgr_greedy"]
