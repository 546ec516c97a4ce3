"""Encoder embeddings of benchmark prompts, cached on disk by artefact digest.

The routing benchmark embeds ~13k shared prompts (minutes on two cores); the cache makes
reruns take seconds. A file is keyed by the digest of the encoder model and tokenizer
files and the digest of the exact prompt list, so a rebuilt encoder or other data never
reuses a stale file.
Files live in ``bench-results/embeddings/`` (git-ignored).

    .venv/bin/python -m pantheon.bench.embedding_cache   # fill the cache for the shared data
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pantheon.learning.encoder import (
    MODEL_FILE,
    TOKENIZER_FILE,
    bundled_encoder,
    data_path,
    file_digest,
)

CACHE_DIR = Path("bench-results") / "embeddings"


def prompts_digest(prompts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for p in prompts:
        h.update(hashlib.sha256(p.encode("utf-8")).digest())
    return h.hexdigest()


def cached_embeddings(
    prompts: Sequence[str], threads: int = 2, cache_dir: Path = CACHE_DIR
) -> tuple[NDArray[np.float64], float | None]:
    """(n, 384) embeddings, and the prompts/s of the encode when it was not cached."""
    # Keyed by the model and tokenizer only: the 64-D reduction is applied afterwards.
    model = file_digest(data_path(MODEL_FILE), data_path(TOKENIZER_FILE))
    path = cache_dir / f"{model[:16]}-{prompts_digest(prompts)[:16]}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False), None
    start = time.perf_counter()
    emb = bundled_encoder().embed_many(list(prompts), threads=threads)
    rate = len(prompts) / (time.perf_counter() - start)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb, allow_pickle=False)
    tmp.replace(path)
    return emb, rate


if __name__ == "__main__":
    from pantheon.bench.routing_data import load_all

    sets = load_all()
    for name, data in sets.items():
        _, rate = cached_embeddings(data.prompts)
        print(f"{name}: {len(data)} prompts" + (f", {rate:,.1f} prompts/s" if rate else " cached"))
