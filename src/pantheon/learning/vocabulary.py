"""The coordizer's learned vocabulary: token → 64-D direction, fitted offline.

Fit (``fit_vocabulary``): TF-IDF over word tokens (tf = sqrt(count), smoothed idf, rows
L2-normalised; tokens in at least ``min_df`` texts, the ``max_tokens`` most frequent),
then a seeded randomised truncated SVD to 64 components; each component is scaled so
the fitted texts have unit variance along it. Embedding a text is its normalised TF-IDF
row times that table (unknown tokens are ignored).

The bundled table (``pantheon/data/curriculum/coordizer_vocabulary.npz``) is rebuilt by
``python -m pantheon.learning.vocabulary``: fitted on the bundled curriculum prompts plus
the *training* prompts of the seeded 80/20 split of the RouteLLM MMLU files (never their
test rows; see ``mmlu.random_split``).
"""

from __future__ import annotations

import hashlib
import io
import math
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .seeds import seed_int

Arr = NDArray[np.float64]
DIM = 64
ARTEFACT = "coordizer_vocabulary.npz"
_PACKAGE = "pantheon.data.curriculum"


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


def dumps_vocabulary(vocab: Vocabulary) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        tokens=np.frombuffer("\n".join(vocab.tokens).encode("utf-8"), dtype=np.uint8),
        idf=vocab.idf.astype("<f8"),
        table=vocab.table.astype("<f4"),  # float32 halves the file; loaded back as float64
    )
    return buf.getvalue()


def loads_vocabulary(data: bytes) -> Vocabulary:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        tokens = tuple(npz["tokens"].tobytes().decode("utf-8").split("\n"))
        idf = np.asarray(npz["idf"], dtype=np.float64)
        table = np.asarray(npz["table"], dtype=np.float64)
    if table.shape != (len(tokens), DIM) or idf.shape != (len(tokens),):
        raise ValueError("vocabulary arrays do not fit together")
    return Vocabulary(tokens, idf, table)


@lru_cache(maxsize=1)
def bundled_vocabulary() -> Vocabulary:
    return loads_vocabulary(resources.files(_PACKAGE).joinpath(ARTEFACT).read_bytes())


def build_bundled(mmlu_dir: Path | None = None, out: Path | None = None) -> Path:
    """Rebuild the bundled table from the curriculum + MMLU training prompts."""
    from .coordizer import tokens as tokenise
    from .curriculum import bundled_prompts
    from .mmlu import DEFAULT_DIR, load_mmlu, random_split

    data = load_mmlu(mmlu_dir or DEFAULT_DIR)
    test = random_split(len(data))
    texts = [p for p, t in zip(data.prompts, test, strict=True) if not t]
    texts += [p for ps in bundled_prompts().values() for p in ps]
    vocab = fit_vocabulary([tokenise(t) for t in texts])
    target = out or Path(str(resources.files(_PACKAGE).joinpath(ARTEFACT)))
    target.write_bytes(dumps_vocabulary(vocab))
    return target


if __name__ == "__main__":
    path = build_bundled(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    sys.stdout.write(f"wrote {path}\n")
