"""The frontier benchmark: its encoders agree with the product's, and it runs end to end."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pantheon.bench import frontier
from pantheon.bench.frontier_encoders import StaticTable, TruncatedEncoder, zipf_sif_weights
from pantheon.learning.encoder import bundled_encoder
from pantheon.learning.mmlu import STRONG_MODEL, WEAK_MODEL

pytestmark = pytest.mark.unit

SHORT = "What is the boiling point of water at sea level?"
LONG = " ".join(f"word{i} of a long question about chemistry" for i in range(40))


def test_a_prompt_shorter_than_the_cut_gets_the_products_vector() -> None:
    enc = TruncatedEncoder(64)
    assert enc.lengths([SHORT])[0] < 64
    same = enc.embed_many([SHORT])
    assert np.array_equal(same, bundled_encoder().embed_many([SHORT]))
    assert enc.lengths([LONG])[0] > 64
    cut = enc.embed_many([LONG])[0]
    full = bundled_encoder().embed_many([LONG])[0]
    assert not np.allclose(cut, full)  # the cut is real
    assert np.linalg.norm(cut) == pytest.approx(1.0)


def test_a_one_token_prompt_in_the_static_table_is_the_encoders_vector(tmp_path: Path) -> None:
    table = StaticTable(tmp_path)
    ids = table.token_ids(["water"])
    assert len(ids[0]) == 1
    vec = table.embed_many(["water"], "mean")[0]  # re-normalised: float noise only
    np.testing.assert_allclose(vec, bundled_encoder().embed_many(["water"])[0], atol=1e-6)
    reread = StaticTable(tmp_path)  # rows persist in the cache directory
    assert reread.known[ids[0][0]]
    np.testing.assert_array_equal(reread.rows[ids[0][0]], table.rows[ids[0][0]])


def test_sif_weights_rise_with_rank() -> None:
    w = zipf_sif_weights(1000)
    assert np.all(np.diff(w) > 0)
    assert 0 < w[0] < w[-1] < 1


def _write(path: Path, rows: list[tuple[str, bool, bool]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt", WEAK_MODEL, STRONG_MODEL])
        for prompt, weak, strong in rows:
            out.writerow([prompt, str(weak), str(strong)])


def test_the_frontier_runs_on_a_tiny_sample(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    (tmp_path / "mmlu").mkdir()
    for s in range(14):
        rows = [
            (f"subject {s} question {i}: which of these is true? " + ("detail " * (i % 3) * 30),
             bool(rng.random() < 0.5), bool(rng.random() < 0.7))
            for i in range(8)
        ]  # fmt: skip
        _write(tmp_path / "mmlu" / f"mmlu_s{s}.csv", rows)
    gsm = [(f"A farmer has {i} cows and buys {i + 3} more. How many?", bool(i % 2), True)
           for i in range(20)]  # fmt: skip
    gsm[0] = (gsm[0][0], False, False)
    _write(tmp_path / "gsm8k_responses.csv", gsm)
    out = tmp_path / "frontier.txt"
    frontier.main(
        ["--data", str(tmp_path), "--seeds", "1", "--epochs", "1", "--speed-sample", "3",
         "--cache", str(tmp_path / "cache"), "--out", str(out)]
    )  # fmt: skip
    text = out.read_text(encoding="utf-8")
    for label in (frontier.PRODUCT, "MiniLM int8, 64 pieces", "static table, sif", frontier.TFIDF):
        assert label in text
    product = next(line for line in text.splitlines() if line.startswith(frontier.PRODUCT))
    cells = product[50:].split()
    assert float(cells[0]) > 0  # ms per prompt measured
    assert (tmp_path / "cache" / "frontier").is_dir()
