"""The previous coordizer, kept as a benchmark baseline: TF-IDF → 64-D truncated SVD.

Fit (``fit_vocabulary``): TF-IDF over word tokens (NFKC + casefold, ``\\w+``; tf =
sqrt(count), smoothed idf, rows L2-normalised; tokens in at least ``min_df`` texts, the
``max_tokens`` most frequent), then a seeded randomised truncated SVD to 64 components,
each scaled so the fitted texts have unit variance along it. A text's basin is its
normalised TF-IDF row times that table (unknown tokens ignored), mapped onto the simplex
by ``b ∝ (max(z + SHIFT, 0) + FLOOR)²``.

Until coordizer ``minilm6-int8-rp64-softmax-1`` this was the product's coordizer, with a
table fitted on the shared MMLU prompts themselves. The routing benchmark refits it on
each split's training prompts only (so it never sees a test prompt) and reports it beside
the encoder.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from pantheon.learning.seeds import seed_int

Arr = NDArray[np.float64]
DIM = 64
SHIFT = 3.0
FLOOR = 1e-3
_TOKEN_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class Vocabulary:
    tokens: tuple[str, ...]
    idf: Arr  # (V,)
    table: Arr  # (V, 64), already scaled to unit variance per component

    @property
    def index(self) -> dict[str, int]:
        return _index(self.tokens)

    def digest(self) -> str:
        h = hashlib.sha256("\n".join(self.tokens).encode("utf-8"))
        h.update(np.ascontiguousarray(self.idf, "<f8").tobytes())
        h.update(np.ascontiguousarray(self.table, "<f8").tobytes())
        return h.hexdigest()


@lru_cache(maxsize=4)
def _index(tokens: tuple[str, ...]) -> dict[str, int]:
    return {t: i for i, t in enumerate(tokens)}


def tfidf_rows(
    docs: Sequence[Sequence[str]], index: dict[str, int], idf: Arr
) -> tuple[NDArray[np.int64], NDArray[np.int64], Arr]:
    """Sparse (row, column, value) of L2-normalised TF-IDF rows (tf = sqrt(count))."""
    rows: list[int] = []
    cols: list[int] = []
    tfs: list[float] = []
    for i, words in enumerate(docs):
        counts = Counter(index[w] for w in words if w in index)
        for col, c in counts.items():
            rows.append(i)
            cols.append(col)
            tfs.append(math.sqrt(c))
    r = np.asarray(rows, dtype=np.int64)
    c_arr = np.asarray(cols, dtype=np.int64)
    v = np.asarray(tfs, dtype=np.float64) * idf[c_arr]
    norms = np.sqrt(np.bincount(r, weights=v * v, minlength=len(docs)))
    return r, c_arr, v / norms[r] if v.size else v


def embed(docs: Sequence[Sequence[str]], vocab: Vocabulary) -> Arr:
    """(n, 64) embedding of tokenised texts; all-zero rows for texts with no known token."""
    r, c, v = tfidf_rows(docs, vocab.index, vocab.idf)
    out = np.zeros((len(docs), DIM), dtype=np.float64)
    if v.size:
        # np.add.at sums sequentially: the same result on every machine (no BLAS order).
        np.add.at(out, r, v[:, None] * vocab.table[c])
    return out


def _sparse_mul(r: NDArray[np.int64], c: NDArray[np.int64], v: Arr, m: Arr, n: int) -> Arr:
    """(sparse n×V matrix given as rows r, columns c, values v) @ m."""
    order = np.argsort(r, kind="stable")
    rs = r[order]
    starts = np.flatnonzero(np.r_[True, rs[1:] != rs[:-1]])
    out = np.zeros((n, m.shape[1]))
    out[rs[starts]] = np.add.reduceat(v[order, None] * m[c[order]], starts, axis=0)
    return out


def fit_vocabulary(
    docs: Sequence[Sequence[str]], min_df: int = 2, max_tokens: int = 16384, seed: int = 0
) -> Vocabulary:
    """Fit the token table on tokenised texts (see the module docstring)."""
    df: Counter[str] = Counter()
    for words in docs:
        df.update(set(words))
    kept = sorted(((w, n) for w, n in df.items() if n >= min_df), key=lambda x: (-x[1], x[0]))
    kept = kept[:max_tokens]
    tokens = tuple(w for w, _ in kept)
    idf = np.log((1.0 + len(docs)) / (1.0 + np.array([n for _, n in kept], float))) + 1.0
    index = {t: i for i, t in enumerate(tokens)}
    r, c, v = tfidf_rows(docs, index, idf)
    n, vsize = len(docs), len(tokens)
    rng = np.random.default_rng(seed_int("vocabulary", seed))
    y = _sparse_mul(r, c, v, rng.normal(size=(vsize, DIM + 16)), n)
    for _ in range(4):  # power iterations sharpen the leading subspace
        q, _ = np.linalg.qr(y)
        q2, _ = np.linalg.qr(_sparse_mul(c, r, v, q, vsize))
        y = _sparse_mul(r, c, v, q2, n)
    q, _ = np.linalg.qr(y)
    _, _, vt = np.linalg.svd(_sparse_mul(c, r, v, q, vsize).T, full_matrices=False)
    components = np.zeros((vsize, DIM))
    rank = min(DIM, vt.shape[0])  # a tiny corpus may have fewer than 64 directions
    components[:, :rank] = vt[:rank].T
    components *= np.where(components.sum(axis=0) < 0, -1.0, 1.0)  # fixed sign convention
    scale = _sparse_mul(r, c, v, components, n).std(axis=0)
    # Directions beyond the corpus' rank carry only rounding noise: never blow them up.
    return Vocabulary(tokens, idf, components / np.maximum(scale, 1e-6 * float(scale.max())))


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def fit_on_texts(texts: Sequence[str]) -> Vocabulary:
    return fit_vocabulary([tokens(t) for t in texts])


def to_simplex(z: Arr) -> Arr:
    v = np.maximum(z + SHIFT, 0.0) + FLOOR
    b = v * v
    return np.asarray(b / b.sum(axis=1, keepdims=True), dtype=np.float64)


def coordize_many(texts: Sequence[str], vocab: Vocabulary) -> Arr:
    """Basins (n, 64) of ``texts`` under ``vocab`` (rows of texts with no known token: z = 0)."""
    return to_simplex(embed([tokens(t) for t in texts], vocab))
