"""Basins of a benchmark's prompts, kept on disk between runs.

Encoding is most of a ``bench online`` run (the sentence encoder manages a few dozen
prompts a second per thread; MMLU has ~11,700 prompts). A file keyed by the coordizer
version and the exact prompt list lets every later run on the same data skip it; a new
coordizer version or other prompts never reuse a stale file. Files live in
``bench-results/basins/`` (git-ignored) unless told otherwise.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pantheon.learning import coordizer
from pantheon.store.basins import encode_basins
from pantheon.training.encoding import BasinCache, current_version

DEFAULT_DIR = Path("bench-results") / "basins"


def basin_file(prompts: Sequence[str], cache_dir: Path) -> Path:
    """Where the basins of ``prompts`` (in this order) at the running version are kept."""
    h = hashlib.sha256(current_version().encode("utf-8") + b"\0")
    for prompt in prompts:
        h.update(hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest())
    return cache_dir / f"{h.hexdigest()[:32]}.npy"


def prompt_basins(prompts: Sequence[str], cache_dir: Path | None) -> NDArray[np.float64]:
    """(n, 64) basins of ``prompts``: read from ``cache_dir`` when a file for exactly these
    prompts at this coordizer version is there, else encoded (and written when a
    directory is given)."""
    if cache_dir is None:
        return coordizer.coordize_many(prompts)
    path = basin_file(prompts, cache_dir)
    if path.exists():
        kept = np.load(path, allow_pickle=False)
        if kept.shape == (len(prompts), coordizer.BASIN_DIM) and np.all(np.isfinite(kept)):
            return np.asarray(kept, dtype=np.float64)
    basins = coordizer.coordize_many(prompts)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside, then renamed: a concurrent or interrupted run never reads half a file.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        np.save(fh, basins, allow_pickle=False)
    tmp.replace(path)
    return basins


def fill_cache(cache: BasinCache, prompts: Sequence[str], basins: NDArray[np.float64]) -> None:
    """Put each prompt's basin in ``cache`` as the running version's blob (what
    ``encode_prompts`` would have stored after encoding it)."""
    version = current_version()
    for prompt, blob in zip(prompts, encode_basins(basins), strict=True):
        cache.put(version, prompt, blob)
