"""The static token table (``PANTHEON_COORDIZER=static``): distilled rows, prompt vectors,
and the coordizer running it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pantheon.learning import coordizer
from pantheon.learning.coordizer import BASIN_DIM
from pantheon.learning.coordizer_kind import CoordizerKind
from pantheon.learning.encoder import EMBED_DIM, MODEL_FILE, data_path, open_session
from pantheon.learning.static_table import bundled_table, load_table, quantise, write_table

PROMPTS = [
    "Write a short poem about the sea at night.",
    "What is the derivative of x squared times sine of x?",
    "Summarise this contract clause for a tenant in plain English.",
]


@pytest.fixture
def static() -> Iterator[None]:
    before = coordizer.running()
    coordizer.use(CoordizerKind.STATIC)
    try:
        yield
    finally:
        coordizer.use(before)


def test_each_row_is_the_encoder_on_that_token_alone() -> None:
    table = bundled_table()
    tok = table._tokenizer
    session = open_session(data_path(MODEL_FILE))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    for word in ("ocean", "derivative", "tenant", "##ing"):
        tid = tok.token_to_id(word)
        assert tid is not None, word
        ids = np.asarray([[cls, tid, sep]], dtype=np.int64)
        want = session.run(["embedding"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        got = table.rows[tid].astype(np.float64) * table.scale[tid]
        # 8-bit rows: at most half a step of the row's largest coordinate off.
        assert np.abs(got - want[0][0]).max() <= table.scale[tid] / 2 + 1e-7, word


def test_quantise_round_trip_is_within_half_a_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(50, EMBED_DIM))
    rows[7] = 0.0  # a zero row keeps a usable scale
    q, scale = quantise(rows)
    assert q.dtype == np.int8
    assert np.all(scale > 0)
    assert np.all(
        np.abs(q.astype(np.float64) * scale[:, None] - rows) <= scale[:, None] / 2 + 1e-12
    )
    path = tmp_path / "t.npz"
    write_table(rows, path, "test rows")
    loaded = load_table(path, data_path("tokenizer.json"))
    assert np.array_equal(loaded.rows, q)
    assert np.array_equal(loaded.scale, scale)


def test_a_malformed_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, rows=np.zeros((4, 10), np.int8), scale=np.ones(4))
    with pytest.raises(ValueError, match="malformed"):
        load_table(path, data_path("tokenizer.json"))


def test_a_prompt_vector_is_unit_length_and_its_own() -> None:
    table = bundled_table()
    alone = np.stack([table.embed_many([p])[0] for p in PROMPTS])
    together = table.embed_many(PROMPTS)
    assert np.array_equal(alone, together)  # no neighbour changes a vector
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0)
    assert not np.array_equal(together[0], together[1])
    assert table.embed_many([]).shape == (0, EMBED_DIM)


def test_related_prompts_are_closer_than_unrelated_ones() -> None:
    table = bundled_table()
    sea, ocean, tax = table.embed_many(
        ["a poem about the sea", "verses about the ocean waves", "how do I file my tax return"]
    )
    assert float(sea @ ocean) > float(sea @ tax) + 0.1


def test_the_static_coordizer_has_its_own_version_and_valid_basins(static: None) -> None:
    method, digest = coordizer.COORDIZER_VERSION.split(":")
    assert method == coordizer.METHODS[CoordizerKind.STATIC] != coordizer.METHOD
    assert len(digest) == 12
    basins = coordizer.coordize_many([*PROMPTS, "", "🙂"])
    assert basins.shape == (5, BASIN_DIM)
    assert np.all(basins > 0)
    assert np.allclose(basins.sum(axis=1), 1.0)
    assert np.allclose(basins[3], 1.0 / BASIN_DIM)  # no word: the uniform point
    assert np.array_equal(coordizer.coordize_many(PROMPTS), basins[:3])


def test_switching_kind_switches_version_basins_and_known_basins(static: None) -> None:
    static_version = coordizer.COORDIZER_VERSION
    static_basin = coordizer.coordize(PROMPTS[0])
    coordizer.use(CoordizerKind.ENCODER)
    assert static_version != coordizer.COORDIZER_VERSION
    assert coordizer.COORDIZER_VERSION.startswith(coordizer.METHOD + ":")
    assert not np.allclose(coordizer.coordize(PROMPTS[0]), static_basin)
    coordizer.use(CoordizerKind.STATIC)
    assert static_version == coordizer.COORDIZER_VERSION
    # The shipped known basins belong to the encoder: under the static kind none is used.
    assert coordizer._known_basins() == {}
