"""Text → 64-D basin coordinates on the probability simplex.

Method (``COORDIZER_VERSION``): the text is NFKC-normalised and case-folded and split into
word tokens (``\\w+``). Its TF-IDF row (tf = sqrt(count)) over a learned vocabulary is projected on
64 learned directions (``vocabulary.py``: a truncated SVD fitted offline, bundled as
``pantheon/data/curriculum/coordizer_vocabulary.npz``); a token outside the vocabulary
gets a fixed pseudo-random direction from its BLAKE2b digest (never the built-in
``hash``), weighted like the rarest known token. The 64 projections z are mapped onto the
simplex by ``b ∝ (max(z + SHIFT, 0) + FLOOR)²``, so the Hellinger embedding sqrt(b) is the
shifted projection, normalised. Only +, ×, ÷ and sqrt follow the table look-up and all
sums run in a fixed order, so a text gives the same basin in every process and machine.
Empty text (or text without word characters) maps to the uniform point.

Measured (``python -m benchmarks.routing_engine``: one logistic kernel per model, routing
MMLU prompts between gpt-4-1106-preview and Mixtral-8x7B by p_strong − p_weak; APGR /
CPT(50%), mean over 3 split seeds; RouteLLM's best: 0.603 / 35.4%; random: 0.50 / 50%):

====================================================  ===============  ====================
features                                              80/20 random     12 subjects left out
====================================================  ===============  ====================
word 1–2-grams hashed into 64 buckets                 0.624 / 32.6%    0.530 / 43.6%
this vocabulary, refitted on each split's training    0.682 / 25.9%    0.624 / 31.2%
the bundled table (80/20 split, seed 0 only)          0.663 / 29.1%    —
the same with log tf instead of sqrt tf               0.680 / 25.4%    0.627 / 30.5%
adding hashed character 4-grams to the vocabulary     0.651 / 28.9%    0.553 / 44.6%
====================================================  ===============  ====================

(sqrt tf was kept over log tf: equal quality, and only IEEE-exact operations at run time.
The character 4-gram row is one seed of an earlier split.) Left-out subjects vary a lot
(per seed 0.657, 0.555, 0.660): transfer across subjects is the hard part.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from pantheon.errors import ValidationError

from .vocabulary import DIM, Vocabulary, bundled_vocabulary

BASIN_DIM = DIM
SHIFT = 3.0
FLOOR = 1e-3
_CHUNK = 512
_TOKEN_RE = re.compile(r"\w+")


def normalise(text: str) -> str:
    """NFKC + casefold: the same text in any Unicode spelling gives the same tokens."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(normalise(text))


@lru_cache(maxsize=1)
def _version() -> str:
    return "vocab-svd64-1:" + bundled_vocabulary().digest()[:12]


def __getattr__(name: str) -> str:
    # COORDIZER_VERSION names the method and the exact table (loaded on first use).
    if name == "COORDIZER_VERSION":
        return _version()
    raise AttributeError(name)


@lru_cache(maxsize=65_536)
def _oov_direction(token: str) -> NDArray[np.float64]:
    """A fixed pseudo-random direction for a token outside the vocabulary."""
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=BASIN_DIM).digest()
    out = (np.frombuffer(digest, dtype=np.uint8).astype(np.float64) - 127.5) / 73.9
    out.setflags(write=False)
    return out


def _oov_scale(vocab: Vocabulary) -> float:
    """Unknown rows get the median norm of the known rows (directions have norm ~8)."""
    if vocab is bundled_vocabulary():
        return _bundled_oov_scale()
    return _median_norm(vocab.table) / 8.0


@lru_cache(maxsize=1)
def _bundled_oov_scale() -> float:
    return _median_norm(bundled_vocabulary().table) / 8.0


def _median_norm(table: NDArray[np.float64]) -> float:
    # math.fsum is exactly rounded: the same value on every machine.
    norms = sorted(math.sqrt(math.fsum(x * x for x in row)) for row in table.tolist())
    return norms[len(norms) // 2]


def to_simplex(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Map projections (n, 64) onto the simplex: b ∝ (max(z + SHIFT, 0) + FLOOR)²."""
    v = np.maximum(z + SHIFT, 0.0) + FLOOR
    b = v * v
    total = b[:, 0].copy()
    for j in range(1, b.shape[1]):  # a fixed left-to-right order, not a SIMD reduction
        total += b[:, j]
    return np.asarray(b / total[:, None], dtype=np.float64)


def project_many(texts: Iterable[str], vocabulary: Vocabulary | None = None) -> NDArray[np.float64]:
    """The 64 learned projections of each text, shape (n, 64), before the simplex map."""
    vocab = vocabulary or bundled_vocabulary()
    items = list(texts)
    if len(items) <= _CHUNK:
        return _project(items, vocab)
    # Chunks keep the (tokens × 64) temporaries small; rows do not interact.
    return np.concatenate(
        [_project(items[i : i + _CHUNK], vocab) for i in range(0, len(items), _CHUNK)]
    )


def _project(texts: list[str], vocab: Vocabulary) -> NDArray[np.float64]:
    index = vocab.index
    size = len(vocab.tokens)
    unknown: dict[str, int] = {}
    ids: list[int] = []
    lengths: list[int] = []
    for text in texts:
        if not isinstance(text, str):
            raise ValidationError(f"coordize expects text, got {type(text).__name__}")
        words = tokens(text)
        lengths.append(len(words))
        ids.extend(
            col if (col := index.get(w)) is not None else size + unknown.setdefault(w, len(unknown))
            for w in words
        )
    n = len(lengths)
    z = np.zeros((n, BASIN_DIM), dtype=np.float64)
    if not ids:
        return z
    width = size + len(unknown)
    docs = np.repeat(np.arange(n, dtype=np.int64), lengths)
    keys, counts = np.unique(docs * width + np.asarray(ids, dtype=np.int64), return_counts=True)
    rows, cols = keys // width, keys % width
    idf = np.r_[vocab.idf, np.full(len(unknown), float(vocab.idf.max()))]
    # Gather the rows each entry needs; stacking OOV rows onto the table would copy it whole.
    known = cols < size
    directions = np.empty((cols.size, BASIN_DIM), dtype=np.float64)
    directions[known] = vocab.table[cols[known]]
    if unknown:
        extra = np.stack([_oov_direction(w) for w in unknown]) * _oov_scale(vocab)
        directions[~known] = extra[cols[~known] - size]
    vals = np.sqrt(counts.astype(np.float64)) * idf[cols]
    vals = vals / np.sqrt(np.bincount(rows, weights=vals * vals, minlength=n))[rows]
    return _ordered_row_sums(rows, vals[:, None] * directions, n)


def _ordered_row_sums(
    rows: NDArray[np.int64], contrib: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    """Per-row sums of ``contrib`` (rows ascending), each row summed strictly in order.

    Plain element-wise additions in a fixed order: unlike BLAS or numpy's SIMD reductions,
    the result is bit-identical on every machine.
    """
    z = np.zeros((n, BASIN_DIM), dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[starts, rows.size])
    position = np.arange(rows.size) - np.repeat(starts, lengths)
    order = np.lexsort((rows, position))  # grouped by position within the row
    bounds = np.searchsorted(position[order], np.arange(int(lengths.max()) + 1))
    for k in range(int(lengths.max())):
        sel = order[bounds[k] : bounds[k + 1]]  # at most one entry per row
        z[rows[sel]] += contrib[sel]
    return z


def coordize_many(
    texts: Iterable[str], vocabulary: Vocabulary | None = None
) -> NDArray[np.float64]:
    """Basins of many texts, shape (n, 64); rows are non-negative and sum to 1.

    ``vocabulary`` replaces the bundled table (used by benchmarks to refit on a split).
    """
    return to_simplex(project_many(texts, vocabulary))


def coordize(text: str) -> NDArray[np.float64]:
    """Basin of one text, shape (64,)."""
    out: NDArray[np.float64] = coordize_many([text])[0]
    return out
