"""Bundled, attributed curriculum prompts per default god (``pantheon/data/curriculum/``).

For a god, its own domain prompts (and its domain line) are positives (success, weight 1)
and a seeded sample of the other gods' prompts are weak negatives (failure, weight
``NEGATIVE_WEIGHT``): a prior so a fresh pantheon routes sensibly before any outcome.
A god with no bundled file (e.g. a custom roster of LLM names) gets an empty batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import numpy as np

from .batch import Batch
from .coordizer import coordize_many
from .reward import compute_reward
from .seeds import seed_int

NEGATIVE_WEIGHT = 0.3
NEGATIVES_PER_POSITIVE = 2
_PACKAGE = "pantheon.data.curriculum"


@lru_cache(maxsize=1)
def bundled_prompts() -> dict[str, tuple[str, ...]]:
    """god name → its bundled prompts (``<god>.txt``: one prompt a line, ``#`` comments)."""
    out: dict[str, tuple[str, ...]] = {}
    for entry in resources.files(_PACKAGE).iterdir():
        if not entry.name.endswith(".txt"):
            continue
        lines = entry.read_text(encoding="utf-8").splitlines()
        prompts = tuple(s.strip() for s in lines if s.strip() and not s.startswith("#"))
        out[entry.name[: -len(".txt")]] = prompts
    return dict(sorted(out.items()))


def curriculum_batch(god: str, domains: Mapping[str, str]) -> Batch:
    """Curriculum for ``god`` (canonical name); ``domains`` maps god → domain line."""
    bundled = bundled_prompts()
    name = god.strip().lower()
    own = bundled.get(name)
    if not own:
        return Batch.empty()
    positives = list(own)
    if domains.get(name):
        positives.append(domains[name])
    others = [p for g, ps in bundled.items() if g != name for p in ps]
    others += [d for g, d in sorted(domains.items()) if g != name and g in bundled and d]
    rng = np.random.default_rng(seed_int("curriculum", name))
    k = min(len(others), NEGATIVES_PER_POSITIVE * len(positives))
    negatives = [others[i] for i in sorted(rng.choice(len(others), size=k, replace=False))]
    texts = positives + negatives
    n_pos = len(positives)
    successes = np.r_[np.ones(n_pos, dtype=bool), np.zeros(len(negatives), dtype=bool)]
    rewards = np.where(successes, compute_reward(True), compute_reward(False))
    weights = np.r_[np.ones(n_pos), np.full(len(negatives), NEGATIVE_WEIGHT)]
    return Batch(coordize_many(texts), rewards, successes, weights)
