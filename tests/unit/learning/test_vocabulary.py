from __future__ import annotations

import numpy as np
import pytest

from pantheon.learning import coordizer
from pantheon.learning.coordizer import BASIN_DIM, coordize_many, tokens
from pantheon.learning.mmlu import DEFAULT_DIR
from pantheon.learning.vocabulary import (
    build_bundled,
    bundled_vocabulary,
    dumps_vocabulary,
    fit_vocabulary,
    loads_vocabulary,
)

pytestmark = pytest.mark.unit

TOPICS = {
    "maths": "integral derivative equation algebra matrix proof theorem prime number",
    "cooking": "bake oven flour sugar butter recipe dough salt pepper soup",
    "sailing": "boat sail wind harbour anchor mast tide keel crew knot",
}


def _corpus(n: int = 120, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        words = list(TOPICS.values())[i % 3].split()
        docs.append([words[j] for j in rng.integers(0, len(words), 12)] + ["the", "a"])
    return docs


def test_fit_is_deterministic_and_shaped() -> None:
    a, b = fit_vocabulary(_corpus()), fit_vocabulary(_corpus())
    assert a.table.shape == (len(a.tokens), BASIN_DIM)
    assert a.tokens[:2] == ("a", "the")  # most frequent first, ties by name
    np.testing.assert_array_equal(a.table, b.table)
    assert a.digest() == b.digest()


def test_min_df_drops_rare_tokens() -> None:
    vocab = fit_vocabulary([*_corpus(), ["hapax"]], min_df=2)
    assert "hapax" not in vocab.index


def test_learned_vocabulary_separates_topics() -> None:
    vocab = fit_vocabulary(_corpus())
    maths, cooking, _, maths2 = (" ".join(d) for d in _corpus(4, seed=9))
    basins = coordize_many([maths, maths2, cooking], vocabulary=vocab)
    same = np.sqrt(basins[0] * basins[1]).sum()
    other = np.sqrt(basins[0] * basins[2]).sum()
    assert same > other


def test_round_trip_through_bytes() -> None:
    vocab = fit_vocabulary(_corpus())
    again = loads_vocabulary(dumps_vocabulary(vocab))
    assert again.tokens == vocab.tokens
    np.testing.assert_allclose(again.table, vocab.table, rtol=1e-6, atol=1e-7)


def test_bundled_table_is_named_by_the_coordizer_version() -> None:
    vocab = bundled_vocabulary()
    assert len(vocab.tokens) > 1000
    assert coordizer.COORDIZER_VERSION.endswith(vocab.digest()[:12])
    assert all(t == tokens(t)[0] for t in vocab.tokens[:200])


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_DIR.is_dir(), reason="RouteLLM MMLU files not present")
def test_bundled_table_is_reproducible_by_its_script(tmp_path) -> None:
    rebuilt = loads_vocabulary(build_bundled(out=tmp_path / "v.npz").read_bytes())
    vocab = bundled_vocabulary()
    assert rebuilt.tokens == vocab.tokens
    np.testing.assert_allclose(rebuilt.table, vocab.table, rtol=1e-4, atol=1e-5)
