"""Text → 64-D basin coordinates on the probability simplex.

Method (``COORDIZER_VERSION`` = method name + the first 12 hex digits of the SHA-256 of the
bundled encoder, tokenizer and reduction files):

1. the text is NFKC-normalised (every Unicode spelling of a text agrees; the tokenizer then
   lowercases and strips accents) and the pretrained sentence encoder all-MiniLM-L6-v2
   (8-bit ONNX, ``encoder.py``) gives a unit 384-D vector (mean-pooled, texts truncated to
   256 word pieces);
2. a fixed linear map ``z = C (e − m) / s`` gives 64 standardised coordinates: ``C`` is a
   seeded random orthogonal projection (fitted on nothing), ``m`` and ``s`` the mean and
   per-direction standard deviation of general language, the 21,358 whole words of the
   encoder's own WordPiece vocabulary, each embedded alone (``scripts/build_encoder.py``).
   Never fitted on benchmark, outcome or evaluation prompts. (A PCA fitted on those words
   routed worse out of distribution, and even a PCA fitted on the evaluation prompts
   themselves did not beat the random projection on unseen subjects; see the table);
3. ``z`` is rounded to ``ROUND`` decimals (so float noise below it never changes a basin),
   clipped to ±``CLIP`` and mapped onto the simplex by a softmax: ``b = softmax(z / T)``
   with the fixed temperature ``T = TEMPERATURE``. The map is invertible up to a shift:
   the centred log-ratio ``log b − mean(log b)`` gives back ``(z − mean z) / T``, which is
   what the kernel learns from (``models.features``).

``PANTHEON_COORDIZER=static`` (``CoordizerKind.STATIC``, set per process by ``use``) swaps
step 1 for the static token table distilled from the same encoder (``static_table.py``: the
normalised sum of the prompt's token rows, under a millisecond of CPU against tens); steps
2 and 3 are the same. Its version is its own method name plus the digest of the table,
tokenizer and reduction files, so basins and kernels of the two kinds are never mixed.

Text without any word character maps to ``z = 0``, the uniform point. Text with a lone UTF-16
surrogate cannot be encoded as UTF-8 and is refused (``ValidationError``); every other
character, NUL and control characters included, is coordized. Determinism: each
text runs alone through a single-threaded onnxruntime session, so the same text gives the
same basin in every process on a machine. Across CPU kinds the encoder's integer products
are exact (unsigned 8-bit weights, which no CPU's int8 instructions saturate), but its
float parts use per-instruction-set kernels, so basins agree within a tolerance, not to
the bit (``tests/unit/learning/test_coordizer.py`` pins the values and says why).

Basins already computed for the bundled curriculum and demo sample prompts ship in
``pantheon/data/encoder/known_basins.npz`` (keyed by prompt SHA-256 and only used when
its stored version equals ``COORDIZER_VERSION``; rebuilt by ``scripts/build_encoder.py``).

Measured (2026-11-30, ``python -m pantheon.bench.routing_engine``; APGR, mean ± sd over 3
seeds; random 0.50; details, speed and what else was tried in ``docs/ARCHITECTURE.md``):

=========================================  ============  ============  ============  ============
representation + router                    80/20         12 subjects   MMLU → GSM8K  GSM8K → MMLU
                                           by prompt     left out
=========================================  ============  ============  ============  ============
this coordizer + logistic kernel           0.629 ± .027  0.582 ± .038  0.533 ± .004  0.517 ± .020
the same + quadratic kernel                0.668 ± .024  0.578 ± .031  0.541 ± .003  0.528 ± .019
previous vocabulary coordizer, refit       0.660 ± .008  0.529 ± .024  0.518 ± .012  0.504 ± .044
encoder 384-D + logistic regression        0.682 ± .012  0.570 ± .022  0.561 ± .004  0.520 ± .004
TF-IDF + logistic regression (same run)    0.700 ± .007  0.603 ± .011  0.490 ± .003  0.471 ± .015
=========================================  ============  ============  ============  ============

Speed: 21–36 prompts/s per thread on ~500-character prompts, milliseconds for a short chat
prompt; the previous vocabulary coordizer was 100× faster and transferred worse.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pantheon.errors import ValidationError

from .coordizer_kind import CoordizerKind
from .encoder import (
    REDUCTION_FILE,
    TOKENIZER_FILE,
    bundled_digest,
    bundled_encoder,
    bundled_reduction,
    data_path,
    file_digest,
)
from .static_table import TABLE_FILE, bundled_table

BASIN_DIM = 64
METHOD = "minilm6-int8-rp64-softmax-1"
#: Method names by kind; the encoder's is ``METHOD``, the name every stored basin had.
METHODS = {CoordizerKind.ENCODER: METHOD, CoordizerKind.STATIC: "minilm6-static8-rp64-softmax-1"}
TEMPERATURE = 1.0
CLIP = 8.0
ROUND = 4
KNOWN_BASINS_FILE = "known_basins.npz"
_WORD_RE = re.compile(r"\w")
# Lone UTF-16 surrogates are not Unicode scalar values: neither the prompt key (SHA-256 of
# the UTF-8 bytes) nor the tokenizer can take them, so they are refused up front. (The
# same test as ``pantheon.text``'s rule, which also refuses NUL; importing it would add a
# module to the worker's side of an outcome's path, docs/ARCHITECTURE.md.)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# The kind this process runs: one per process, set once at start-up by ``use`` (every
# kernel is trained on the basins of one version, so a process never mixes two).
_running = {"kind": CoordizerKind.ENCODER}


def use(kind: CoordizerKind) -> None:
    """Run ``kind`` in this process from now on (``COORDIZER_VERSION`` follows it)."""
    if _running["kind"] is not kind:
        _running["kind"] = kind
        _version.cache_clear()
        _known_basins.cache_clear()


def running() -> CoordizerKind:
    return _running["kind"]


@lru_cache(maxsize=1)
def _version() -> str:
    kind = running()
    if kind is CoordizerKind.ENCODER:
        return f"{METHOD}:{bundled_digest()[:12]}"
    files = (TABLE_FILE, TOKENIZER_FILE, REDUCTION_FILE)
    return f"{METHODS[kind]}:{file_digest(*(data_path(n) for n in files))[:12]}"


def __getattr__(name: str) -> str:
    # COORDIZER_VERSION names the method and the exact artefact (hashed on first use).
    if name == "COORDIZER_VERSION":
        return _version()
    raise AttributeError(name)


def prompt_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def to_simplex(z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Map standardised coordinates (n, 64) onto the simplex: softmax of rounded, clipped z."""
    zc = np.clip(np.round(z, ROUND), -CLIP, CLIP) / TEMPERATURE
    e = np.exp(zc - zc.max(axis=1, keepdims=True))
    total = e[:, 0].copy()
    for j in range(1, e.shape[1]):  # a fixed left-to-right order, not a SIMD reduction
        total += e[:, j]
    return np.asarray(e / total[:, None], dtype=np.float64)


def project_many(texts: list[str], threads: int = 1) -> NDArray[np.float64]:
    """The 64 standardised coordinates of each text, shape (n, 64), before the simplex map."""
    return _project(_checked(texts), threads)


def _project(texts: list[str], threads: int) -> NDArray[np.float64]:
    # ``texts`` already passed ``_checked``: each public entry point checks once.
    z = np.zeros((len(texts), BASIN_DIM), dtype=np.float64)
    clean = [normalise(t) for t in texts]
    wordy = [i for i, t in enumerate(clean) if _WORD_RE.search(t)]
    if wordy:
        chosen = [clean[i] for i in wordy]
        if running() is CoordizerKind.STATIC:
            emb = bundled_table().embed_many(chosen)
        else:
            emb = bundled_encoder().embed_many(chosen, threads=threads)
        z[wordy] = bundled_reduction().apply(emb)
    return z


def _checked(texts: Iterable[str]) -> list[str]:
    """The texts as a list, or :class:`ValidationError` for one that is not text or cannot be
    encoded as UTF-8 (a lone surrogate); other characters, NUL included, are coordized."""
    items = list(texts)
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise ValidationError(f"coordize expects text, got {type(text).__name__}")
        found = _SURROGATE_RE.search(text)
        if found is not None:
            problem = (
                f"text {index} contains a lone UTF-16 surrogate (U+{ord(found.group()):04X}) "
                f"at offset {found.start()}; it cannot be encoded as UTF-8"
            )
            raise ValidationError(f"coordize: {problem}", errors=[problem])
    return items


def compute_many(texts: Iterable[str], threads: int = 1) -> NDArray[np.float64]:
    """Basins computed by the encoder, never from the shipped table of known basins."""
    return to_simplex(project_many(list(texts), threads))


def coordize_many(texts: Iterable[str], threads: int = 1) -> NDArray[np.float64]:
    """Basins of many texts, shape (n, 64); rows are positive and sum to 1.

    ``threads`` encodes that many texts at once (each run stays single-threaded, so the
    result does not depend on it).
    """
    items = _checked(texts)
    out = np.empty((len(items), BASIN_DIM), dtype=np.float64)
    known = _known_basins()
    missing: list[int] = []
    for i, text in enumerate(items):
        row = known.get(prompt_key(text))
        if row is None:
            missing.append(i)
        else:
            out[i] = row
    if missing:
        out[missing] = to_simplex(_project([items[i] for i in missing], threads))
    return out


def coordize(text: str) -> NDArray[np.float64]:
    """Basin of one text, shape (64,)."""
    out: NDArray[np.float64] = coordize_many([text])[0]
    return out


def write_known_basins(texts: Iterable[str], path: Path, threads: int = 1) -> int:
    """Compute and store the basins of ``texts`` (unique) under the current version."""
    unique = sorted(set(_checked(texts)))
    basins = compute_many(unique, threads)
    keys = np.frombuffer(b"".join(prompt_key(t) for t in unique), dtype=np.uint8)
    version = np.frombuffer(_version().encode("utf-8"), dtype=np.uint8)
    with path.open("wb") as fh:
        np.savez_compressed(fh, version=version, keys=keys, basins=basins.astype("<f8"))
    return len(unique)


def load_known_basins(path: Path) -> dict[bytes, NDArray[np.float64]]:
    """The stored basins by prompt key, or nothing if they belong to another version."""
    with np.load(path, allow_pickle=False) as npz:
        if npz["version"].tobytes().decode("utf-8") != _version():
            return {}
        keys = npz["keys"].tobytes()
        basins = np.asarray(npz["basins"], dtype=np.float64)
    if basins.shape != (len(keys) // 32, BASIN_DIM):
        raise ValueError("known basins do not fit their keys")
    basins.setflags(write=False)
    return {keys[32 * i : 32 * i + 32]: basins[i] for i in range(basins.shape[0])}


@lru_cache(maxsize=1)
def _known_basins() -> dict[bytes, NDArray[np.float64]]:
    path = Path(str(resources.files("pantheon.data.encoder").joinpath(KNOWN_BASINS_FILE)))
    return load_known_basins(path) if path.exists() else {}
