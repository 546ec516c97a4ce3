from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pantheon.errors import ValidationError
from pantheon.learning import coordizer
from pantheon.learning.coordizer import BASIN_DIM, coordize, coordize_many
from pantheon.learning.encoder import bundled_digest
from pantheon.learning.geometry import fisher_rao_distance
from pantheon.learning.models import FEATURE_SCALE, features

pytestmark = pytest.mark.unit

TEXTS = ["", "Hello, world!", "Ζεύς καὶ Ἀθηνᾶ", "🙂 emoji only 🙂", "x" * 5000, "日本語のテキスト"]


@given(st.text(max_size=300))
@settings(max_examples=100, deadline=None)
def test_any_text_lands_on_the_simplex(text: str) -> None:
    basin = coordize(text)
    assert basin.shape == (BASIN_DIM,)
    assert np.all(basin > 0)
    assert basin.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(basin, coordize(text))


def test_batch_equals_single() -> None:
    many = coordize_many(TEXTS)
    for text, row in zip(TEXTS, many, strict=True):
        np.testing.assert_array_equal(row, coordize(text))


def test_empty_batch_has_shape_zero() -> None:
    assert coordize_many([]).shape == (0, BASIN_DIM)


def test_unicode_forms_and_case_are_equivalent() -> None:
    np.testing.assert_array_equal(coordize("CAFÉ"), coordize("cafe\u0301"))
    np.testing.assert_array_equal(coordize("ＡＢＣ"), coordize("abc"))
    np.testing.assert_array_equal(coordize("Hello"), coordize("hello"))


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


#: Basins of TEXTS, pinned per artefact: a change on another machine or Python version means
#: the coordizer is not deterministic there. A rebuilt encoder changes both values.
GOLDEN = {
    "minilm6-int8-rp64-softmax-1:dbd6828467f1": (
        "1c62212ce2b5a43c220312d5592421dae0804d37e999ea99bec634ce0b342231"
    )
}


def test_basins_match_the_pinned_digest() -> None:
    version = coordizer.COORDIZER_VERSION
    assert version in GOLDEN, f"artefact changed ({version}): pin its digest in GOLDEN"
    digest = hashlib.sha256(coordizer.compute_many(TEXTS).astype("<f8").tobytes()).hexdigest()
    assert digest == GOLDEN[version]


def test_version_names_method_and_artefact() -> None:
    method, digest = coordizer.COORDIZER_VERSION.split(":")
    assert method == coordizer.METHOD
    assert digest == bundled_digest()[:12]
    assert len(digest) == 12


def test_text_without_words_is_the_uniform_point() -> None:
    for text in ("", "   ", "?!…", "🙂"):
        np.testing.assert_array_equal(coordize(text), np.full(BASIN_DIM, 1 / BASIN_DIM))


def test_basin_recovers_the_linear_coordinates() -> None:
    # The kernel's centred log-ratio features give back the reduced encoder coordinates.
    texts = ["integrate x squared from 0 to 1", "bake a sourdough loaf"]
    z = coordizer.project_many(texts)
    clr = features(coordize_many(texts))[:, :BASIN_DIM] / FEATURE_SCALE
    expected = np.round(z, coordizer.ROUND) / coordizer.TEMPERATURE
    expected -= expected.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(clr, expected, atol=1e-9)


def test_threads_do_not_change_basins() -> None:
    texts = [f"question {i}: what is {i} plus {i}?" for i in range(12)]
    np.testing.assert_array_equal(
        coordizer.compute_many(texts, threads=3), coordizer.compute_many(texts)
    )


def test_similar_meaning_is_closer_than_other_topics() -> None:
    # The encoder was never shown these words together: this is general language.
    a = coordize("How do I bake bread at home?")
    b = coordize("What is a good recipe for homemade bread?")
    c = coordize("Prove that the square root of two is irrational.")
    assert fisher_rao_distance(a, b) < fisher_rao_distance(a, c)


def test_known_basins_equal_computed_ones_and_follow_the_version(tmp_path: Path) -> None:
    texts = ["an outcome prompt", "another one"]
    path = tmp_path / "known.npz"
    assert coordizer.write_known_basins([*texts, texts[0]], path) == 2
    known = coordizer.load_known_basins(path)
    for text, row in zip(texts, coordizer.compute_many(texts), strict=True):
        np.testing.assert_array_equal(known[coordizer.prompt_key(text)], row)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["version"] = np.frombuffer(b"another-method:000000000000", dtype=np.uint8)
    np.savez(path, **arrays)
    assert coordizer.load_known_basins(path) == {}


def test_bundled_known_basins_are_current() -> None:
    # A rebuilt encoder without rebuilt known basins would silently slow the demo down.
    known = coordizer._known_basins()
    assert len(known) > 1000
    row = next(iter(known.values()))
    assert row.shape == (BASIN_DIM,)
    assert np.isclose(row.sum(), 1.0)
