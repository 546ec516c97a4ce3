"""The prompt representations the quality/speed frontier compares, beside the product's.

- :class:`TruncatedEncoder`: the bundled all-MiniLM-L6-v2 int8 graph with its own
  tokenizer truncated to fewer word pieces than the product's 256 (each text alone,
  one thread, as the product runs it).
- :class:`StaticTable`: a static token table distilled from the same encoder (the
  model2vec approach, https://github.com/MinishLab/model2vec): every WordPiece token of
  the bundled tokenizer is run alone (``[CLS] token [SEP]``) through the bundled graph,
  and a prompt is the (optionally weighted) mean of its tokens' vectors, made unit
  length. A token's vector depends on that token alone, so the rows are computed for the
  tokens a run needs and kept in the bench cache (``bench-results/frontier/``, keyed by
  the encoder's digest); the package ships none of it.

Weights: ``mean`` (every token 1) or ``sif`` (smooth inverse frequency
``a / (a + p(token))`` with ``p`` a Zipf law over the vocabulary's order, which for this
WordPiece vocabulary runs roughly from frequent to rare: the stand-in model2vec uses when
no corpus counts are at hand; ``a = 1e-4``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Tokenizer

from pantheon.learning.encoder import (
    EMBED_DIM,
    MODEL_FILE,
    TOKENIZER_FILE,
    data_path,
    file_digest,
    open_session,
)

Arr = NDArray[np.float64]
SIF_A = 1e-4
WEIGHTINGS = ("mean", "sif")


def _session() -> ort.InferenceSession:
    return open_session(data_path(MODEL_FILE))  # the product's own session options


def _run(session: ort.InferenceSession, ids: Sequence[int]) -> Arr:
    arr = np.asarray([ids], dtype=np.int64)
    out = session.run(["embedding"], {"input_ids": arr, "attention_mask": np.ones_like(arr)})
    return np.asarray(out[0][0], dtype=np.float64)


def _tokenizer(max_tokens: int | None) -> Tokenizer:
    tok = Tokenizer.from_file(str(data_path(TOKENIZER_FILE)))
    tok.no_padding()
    if max_tokens is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_tokens)
    return tok


class TruncatedEncoder:
    """The bundled encoder with texts cut to ``max_tokens`` word pieces (specials included)."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.tokenizer = _tokenizer(max_tokens)

    @cached_property
    def session(self) -> ort.InferenceSession:
        return _session()

    def lengths(self, texts: Sequence[str]) -> NDArray[np.int64]:
        """Word pieces of each text before truncation (specials included)."""
        full = _tokenizer(None).encode_batch(list(texts))
        return np.array([len(e.ids) for e in full], dtype=np.int64)

    def embed_many(self, texts: Sequence[str]) -> Arr:
        if not texts:
            return np.zeros((0, EMBED_DIM))
        encodings = self.tokenizer.encode_batch(list(texts))
        return np.stack([_run(self.session, e.ids) for e in encodings])


def zipf_sif_weights(vocab_size: int, a: float = SIF_A) -> Arr:
    """``a / (a + p(rank))`` with ``p(rank) ∝ 1 / (rank + 1)`` over the vocabulary order."""
    inv = 1.0 / np.arange(1, vocab_size + 1, dtype=np.float64)
    p = inv / inv.sum()
    return np.asarray(a / (a + p), dtype=np.float64)


class StaticTable:
    """Token id → the encoder's vector of that token alone; rows filled on demand, cached."""

    def __init__(self, cache_dir: Path) -> None:
        self.tokenizer = _tokenizer(None)
        self.vocab_size = self.tokenizer.get_vocab_size()
        digest = file_digest(data_path(MODEL_FILE), data_path(TOKENIZER_FILE))[:16]
        self.path = cache_dir / f"static-{digest}.npz"
        self.rows = np.zeros((self.vocab_size, EMBED_DIM), dtype=np.float64)
        self.known = np.zeros(self.vocab_size, dtype=bool)
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as npz:
                ids = np.asarray(npz["ids"], dtype=np.int64)
                self.rows[ids] = npz["rows"]
                self.known[ids] = True
        self.sif = zipf_sif_weights(self.vocab_size)
        self.cls = self._special("[CLS]")
        self.sep = self._special("[SEP]")

    def _special(self, token: str) -> int:
        tid = self.tokenizer.token_to_id(token)
        if tid is None:
            raise ValueError(f"the bundled tokenizer has no {token}")
        return int(tid)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        enc = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids for e in enc]

    def fill(self, ids: Sequence[Sequence[int]]) -> int:
        """Distil every token of ``ids`` not in the table yet; the number distilled."""
        wanted = np.unique(np.fromiter((t for row in ids for t in row), dtype=np.int64))
        todo = wanted[~self.known[wanted]] if wanted.size else wanted
        if not todo.size:
            return 0
        session = _session()
        for tid in todo.tolist():
            self.rows[tid] = _run(session, [self.cls, tid, self.sep])
        self.known[todo] = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        have = np.flatnonzero(self.known)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, ids=have, rows=self.rows[have])
        tmp.replace(self.path)
        return int(todo.size)

    def embed_ids(self, ids: Sequence[int], weighting: str) -> Arr:
        """Unit vector of one prompt's tokens (the zero vector for a prompt without any)."""
        if not ids:
            return np.zeros(EMBED_DIM)
        index = np.asarray(ids, dtype=np.int64)
        if weighting == "sif":
            vec = self.sif[index] @ self.rows[index]
        else:
            vec = self.rows[index].sum(axis=0)
        norm = float(np.linalg.norm(vec))
        return np.asarray(vec / norm if norm > 0 else vec, dtype=np.float64)

    def embed_many(self, texts: Sequence[str], weighting: str) -> Arr:
        ids = self.token_ids(texts)
        self.fill(ids)
        if not ids:
            return np.zeros((0, EMBED_DIM))
        return np.stack([self.embed_ids(row, weighting) for row in ids])
