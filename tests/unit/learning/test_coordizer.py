from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantheon.errors import ValidationError
from pantheon.learning import coordizer
from pantheon.learning.coordizer import BASIN_DIM, coordize, coordize_many

pytestmark = pytest.mark.unit

TEXTS = ["", "Hello, world!", "Ζεύς καὶ Ἀθηνᾶ", "🙂 emoji only 🙂", "x" * 5000, "日本語のテキスト"]


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_any_text_lands_on_the_simplex(text: str) -> None:
    basin = coordize(text)
    assert basin.shape == (BASIN_DIM,)
    assert np.all(basin >= 0)
    assert basin.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(basin, coordize(text))


def test_batch_equals_single() -> None:
    many = coordize_many(TEXTS)
    for text, row in zip(TEXTS, many, strict=True):
        np.testing.assert_allclose(row, coordize(text), rtol=0, atol=1e-15)


def test_empty_batch_has_shape_zero() -> None:
    assert coordize_many([]).shape == (0, BASIN_DIM)


def test_unicode_forms_and_case_are_equivalent() -> None:
    np.testing.assert_array_equal(coordize("CAFÉ"), coordize("cafe\u0301"))
    np.testing.assert_array_equal(coordize("ＡＢＣ"), coordize("abc"))


def test_different_texts_differ() -> None:
    assert not np.array_equal(coordize("integrate the function"), coordize("bake a cake"))


def test_non_text_is_refused() -> None:
    with pytest.raises(ValidationError):
        coordize_many(["ok", 3])  # type: ignore[list-item]


def test_deterministic_across_processes() -> None:
    code = (
        "import json,sys;from pantheon.learning.coordizer import coordize_many;"
        "print(json.dumps(coordize_many(json.loads(sys.stdin.read())).tolist()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(TEXTS),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    np.testing.assert_array_equal(np.array(json.loads(out.stdout)), coordize_many(TEXTS))


#: Basins of TEXTS, pinned per table: a change on another machine or Python version means
#: the coordizer is not deterministic there. A rebuilt table changes both values.
GOLDEN = {
    "vocab-svd64-1:e6a7437db45d": "26361246ed739e17ee06c77610147e6da9c0d039fc9702a2c20a708b107abfd3"
}


def test_basins_match_the_pinned_digest() -> None:
    version = coordizer.COORDIZER_VERSION
    assert version in GOLDEN, f"table changed ({version}): pin its digest in GOLDEN"
    digest = hashlib.sha256(coordize_many(TEXTS).astype("<f8").tobytes()).hexdigest()
    assert digest == GOLDEN[version]


def test_ordered_row_sums_match_plain_sums() -> None:
    rng = np.random.default_rng(3)
    rows = np.sort(rng.integers(0, 7, 200))
    contrib = rng.normal(size=(200, BASIN_DIM))
    expected = np.zeros((9, BASIN_DIM))
    np.add.at(expected, rows, contrib)
    got = coordizer._ordered_row_sums(rows, contrib, 9)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_unknown_words_still_move_the_basin() -> None:
    a, b = coordize("qwxzt"), coordize("zzvqk")
    uniform = np.full(BASIN_DIM, 1 / BASIN_DIM)
    assert not np.allclose(a, uniform, rtol=0, atol=1e-6)
    assert not np.allclose(a, b, rtol=0, atol=1e-6)
