from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantheon.errors import ValidationError
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
