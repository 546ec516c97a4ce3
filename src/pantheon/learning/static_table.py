"""The fast prompt representation: a static token table distilled from the bundled encoder.

The model2vec approach (https://github.com/MinishLab/model2vec): every WordPiece token of
the bundled tokenizer is run alone (``[CLS] token [SEP]``) through the bundled int8
all-MiniLM-L6-v2 graph, once, at build time (``scripts/build_static_table.py``); a prompt
is then the sum of its tokens' rows, made unit length. No network runs at request time,
so a prompt costs well under a millisecond of CPU against tens for the encoder, and the
same text gives the same vector in every process. It is a bag of words whose words carry
the encoder's meaning: measured as good as the encoder on the benchmark splits, not yet
on chat prompts, which is why it is a setting and not the default (docs/ARCHITECTURE.md,
"Quality/speed frontier").

Storage (``static_table.npz``, 10 MB): each row in 8 bits with its own scale
(``row ≈ q · scale``, ``q`` in [-127, 127]); the rounding moves a row by at most half a
step of its largest coordinate, far below what the 64-D basin's rounding keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tokenizers import Tokenizer

from .encoder import EMBED_DIM, TOKENIZER_FILE, Encoder, data_path

Arr = NDArray[np.float64]
TABLE_FILE = "static_table.npz"
#: Word pieces read per prompt: a bag of words costs in proportion to its length, and the
#: API's prompt limit keeps real prompts far below this.
MAX_PIECES = 8192
_LEVELS = 127.0


@dataclass(frozen=True)
class StaticTable:
    """Token id → an 8-bit row and its scale; ``embed_many`` gives unit 384-D vectors."""

    rows: NDArray[np.int8]  # (vocab, 384)
    scale: Arr  # (vocab,)
    tokenizer_path: Path

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        tok = Tokenizer.from_file(str(self.tokenizer_path))
        tok.no_padding()
        tok.enable_truncation(MAX_PIECES)
        return tok

    def embed_ids(self, ids: Sequence[int]) -> Arr:
        """Unit vector of one prompt's word pieces (zero for a prompt without any)."""
        if not ids:
            return np.zeros(EMBED_DIM, dtype=np.float64)
        index = np.asarray(ids, dtype=np.int64)
        # einsum's own loop, not BLAS: the sum's order, hence its bits, never depends on
        # how many threads a BLAS would use in this process.
        vec = np.einsum("i,ij->j", self.scale[index], self.rows[index].astype(np.float64),
                        optimize=False)  # fmt: skip
        norm = float(np.sqrt(vec @ vec))
        return np.asarray(vec / norm if norm > 0 else vec, dtype=np.float64)

    def embed_many(self, texts: Sequence[str]) -> Arr:
        """(n, 384) unit vectors, each from its own text's word pieces only."""
        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float64)
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return np.stack([self.embed_ids(e.ids) for e in encodings])


def quantise(vectors: Arr) -> tuple[NDArray[np.int8], Arr]:
    """Rows in 8 bits with one scale each (a zero row keeps scale 1)."""
    peak = np.abs(vectors).max(axis=1)
    scale = np.where(peak > 0, peak / _LEVELS, 1.0)
    q = np.clip(np.rint(vectors / scale[:, None]), -_LEVELS, _LEVELS).astype(np.int8)
    return q, scale.astype(np.float64)


def distil(model: Path, tokenizer: Path, threads: int = 2) -> Arr:
    """(vocab, 384): the encoder's vector of each token of the tokenizer, run alone."""
    tok = Tokenizer.from_file(str(tokenizer))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if cls is None or sep is None:
        raise ValueError("the tokenizer has no [CLS] / [SEP]")
    # The product's own encoder run, each token alone between [CLS] and [SEP].
    ids = [[cls, tid, sep] for tid in range(tok.get_vocab_size())]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        rows = list(pool.map(Encoder(model, tokenizer).embed_ids, ids))
    return np.asarray(np.stack(rows), dtype=np.float64)


def write_table(rows: Arr, path: Path, fitted_on: str) -> None:
    q, scale = quantise(rows)
    with path.open("wb") as fh:
        np.savez_compressed(
            fh,
            rows=q,
            scale=scale.astype("<f8"),
            fitted_on=np.frombuffer(fitted_on.encode("utf-8"), dtype=np.uint8),
        )


def load_table(path: Path, tokenizer: Path) -> StaticTable:
    with np.load(path, allow_pickle=False) as npz:
        rows = np.asarray(npz["rows"], dtype=np.int8)
        scale = np.asarray(npz["scale"], dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != EMBED_DIM or scale.shape != rows.shape[:1]:
        raise ValueError("static table arrays are malformed")
    if not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise ValueError("static table scales are malformed")
    rows.setflags(write=False)
    return StaticTable(rows=rows, scale=scale, tokenizer_path=tokenizer)


@lru_cache(maxsize=1)
def bundled_table() -> StaticTable:
    return load_table(data_path(TABLE_FILE), data_path(TOKENIZER_FILE))
