"""The bench's basin file: a second run on the same prompts encodes nothing; a new
coordizer version or other prompts encode again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from pantheon.bench import basin_file
from pantheon.learning import coordizer
from pantheon.training import encoding
from pantheon.training.encoding import BasinCache, encode_prompts

pytestmark = pytest.mark.unit

PROMPTS = ["What is the capital of France?", "Integrate x^2 from 0 to 1.", "Name a prime."]


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    seen: Counter[str] = Counter()
    real = coordizer.coordize_many

    def counting(texts: Iterable[str], threads: int = 1) -> NDArray[np.float64]:
        items = list(texts)
        seen.update(items)
        return real(items, threads=threads)

    monkeypatch.setattr(coordizer, "coordize_many", counting)
    return seen


def test_second_run_reads_the_file(tmp_path: Path, encoded: Counter[str]) -> None:
    first = basin_file.prompt_basins(PROMPTS, tmp_path)
    assert sum(encoded.values()) == len(PROMPTS)
    again = basin_file.prompt_basins(PROMPTS, tmp_path)
    assert sum(encoded.values()) == len(PROMPTS), "nothing encoded the second time"
    np.testing.assert_array_equal(first, again)
    basin_file.prompt_basins(PROMPTS[:2], tmp_path)
    assert sum(encoded.values()) == len(PROMPTS) + 2, "other prompts: another file"


def test_new_coordizer_version_encodes_again(
    tmp_path: Path, encoded: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    basin_file.prompt_basins(PROMPTS, tmp_path)
    monkeypatch.setattr(encoding, "current_version", lambda: "another-coordizer:0")
    monkeypatch.setattr(basin_file, "current_version", lambda: "another-coordizer:0")
    basin_file.prompt_basins(PROMPTS, tmp_path)
    assert sum(encoded.values()) == 2 * len(PROMPTS)


def test_filled_cache_holds_what_encoding_would(tmp_path: Path, encoded: Counter[str]) -> None:
    cache = BasinCache(16)
    basin_file.fill_cache(cache, PROMPTS, basin_file.prompt_basins(PROMPTS, tmp_path))
    before = sum(encoded.values())
    from_cache = encode_prompts(PROMPTS, cache)
    assert sum(encoded.values()) == before, "a filled cache encodes nothing"
    assert from_cache == encode_prompts(PROMPTS, None)
