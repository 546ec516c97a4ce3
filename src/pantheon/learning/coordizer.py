"""Text → 64-D basin coordinates on the probability simplex.

Method (version ``hash-ngram-1``): the text is NFKC-normalised and case-folded, split into
word tokens (``\\w+``); every word unigram and adjacent-word bigram is hashed with
BLAKE2b (never the built-in ``hash``) to one of 64 buckets, counts are smoothed and
normalised onto the simplex. Empty text maps to the uniform point.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from pantheon.errors import ValidationError

BASIN_DIM = 64
COORDIZER_VERSION = "hash-ngram-1"
_SMOOTHING = 0.5
_TOKEN_RE = re.compile(r"\w+")


def normalise(text: str) -> str:
    """NFKC + casefold: the same text in any Unicode spelling gives the same tokens."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(normalise(text))


@lru_cache(maxsize=262_144)
def _bucket(feature: str) -> int:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % BASIN_DIM


def _features(words: Sequence[str]) -> list[str]:
    return [*words, *(f"{a} {b}" for a, b in pairwise(words))]


def coordize_many(texts: Iterable[str]) -> NDArray[np.float64]:
    """Basins of many texts, shape (n, 64); rows are non-negative and sum to 1."""
    items = list(texts)
    rows: list[int] = []
    cols: list[int] = []
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise ValidationError(f"coordize expects text, got {type(text).__name__}")
        feats = _features(tokens(text))
        rows.extend([i] * len(feats))
        cols.extend(_bucket(f) for f in feats)
    counts = np.zeros(len(items) * BASIN_DIM, dtype=np.float64)
    if rows:
        flat = np.asarray(rows, dtype=np.int64) * BASIN_DIM + np.asarray(cols, dtype=np.int64)
        counts += np.bincount(flat, minlength=counts.size)
    basins = counts.reshape(len(items), BASIN_DIM) + _SMOOTHING
    return np.asarray(basins / basins.sum(axis=1, keepdims=True), dtype=np.float64)


def coordize(text: str) -> NDArray[np.float64]:
    """Basin of one text, shape (64,)."""
    out: NDArray[np.float64] = coordize_many([text])[0]
    return out
