"""Routing quality of the learning engine on real outcomes (RouteLLM MMLU).

    .venv/bin/python -m benchmarks.routing_engine [--data DIR] [--epochs 10] [--quick]

Two kernels, one per model (gpt-4-1106-preview strong, Mixtral-8x7B weak), learn each
model's verdicts on the training prompts; the test prompts are routed by predicted success
(score = p_strong − p_weak) and scored with APGR and CPT(50%) (RouteLLM's published best
on MMLU: APGR 0.603, CPT(50%) 35.4%; random routing: 0.5, 50%). Splits: the seeded 80/20
random split (the one the bundled vocabulary was fitted on, training side only) and a
split leaving 12 whole subjects out. Variants compare coordizers and kernel kinds; the
"refit" rows fit the vocabulary on the split's own training prompts only, so the
left-out-subjects row measures the method on unseen subjects honestly.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import coordize_many, tokens
from pantheon.learning.curriculum import bundled_prompts
from pantheon.learning.evaluation import apgr, cpt
from pantheon.learning.kernel import KERNEL_KINDS, Kernel
from pantheon.learning.mmlu import Outcomes, load_mmlu, random_split, subject_split
from pantheon.learning.reward import compute_reward
from pantheon.learning.timescales import train_batch
from pantheon.learning.vocabulary import fit_vocabulary

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "routellm" / "mmlu"
Basins = NDArray[np.float64]


def hashed_basins(texts: Sequence[str]) -> Basins:
    """The baseline: word 1–2-grams hashed (BLAKE2b) into 64 buckets, smoothed counts."""
    out = np.full((len(texts), 64), 0.5)
    for i, text in enumerate(texts):
        words = re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())
        for feat in [*words, *(f"{a} {b}" for a, b in pairwise(words))]:
            digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
            out[i, int.from_bytes(digest, "little") % 64] += 1.0
    basins: Basins = out / out.sum(axis=1, keepdims=True)
    return basins


def route_scores(
    train: Basins, test: Basins, data: Outcomes, tr: NDArray[np.bool_], kind: str, epochs: int
) -> tuple[NDArray[np.float64], float]:
    """p_strong − p_weak on the test basins, and training rows/s."""
    preds = []
    rows, seconds = 0, 0.0
    for name, verdicts in (("strong", data.strong), ("weak", data.weak)):
        y = verdicts[tr]
        rewards = np.where(y, compute_reward(True), compute_reward(False))
        kernel = Kernel(name, seed=0, kind=kind)
        start = time.perf_counter()
        train_batch(kernel, Batch(train, rewards, y), epochs=epochs)
        seconds += time.perf_counter() - start
        rows += len(y) * epochs
        preds.append(kernel.predict_many(test).p_success)
    return preds[0] - preds[1], rows / max(seconds, 1e-9)


Results = dict[tuple[str, str, str], list[tuple[float, float]]]


def measure(
    results: Results,
    split: str,
    label: str,
    data: Outcomes,
    test: NDArray[np.bool_],
    featurise: Callable[[NDArray[np.bool_], NDArray[np.bool_]], tuple[Basins, Basins]],
    kinds: Sequence[str],
    epochs: int,
) -> None:
    tr = ~test
    train, held = featurise(tr, test)
    for kind in kinds:
        score, learn_rate = route_scores(train, held, data, tr, kind, epochs)
        a = apgr(data.strong[test], data.weak[test], score)
        c = cpt(data.strong[test], data.weak[test], score)
        results.setdefault((split, label, kind), []).append((a, c))
        print(
            f"  {label:<44} {kind:<9} APGR {a:.3f}  CPT(50%) {100 * c:5.1f}%  "
            f"(learn {learn_rate:,.0f} rows/s)",
            flush=True,
        )


def baselines(results: Results, split: str, data: Outcomes, test: NDArray[np.bool_]) -> None:
    rng = np.random.default_rng(0)
    for label, score in (
        ("random routing", rng.random(int(test.sum()))),
        ("oracle (knows both verdicts)", data.strong[test].astype(float) - data.weak[test]),
    ):
        a = apgr(data.strong[test], data.weak[test], score)
        c = cpt(data.strong[test], data.weak[test], score)
        results.setdefault((split, label, "-"), []).append((a, c))
        print(f"  {label:<54} APGR {a:.3f}  CPT(50%) {100 * c:5.1f}%")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3, help="split seeds per split kind")
    parser.add_argument("--quick", action="store_true", help="logistic only, one seed, no refit")
    args = parser.parse_args(argv)
    data = load_mmlu(args.data)
    prompts = data.prompts
    kinds = ("logistic",) if args.quick else KERNEL_KINDS
    seeds = range(1 if args.quick else args.seeds)
    start = time.perf_counter()
    bundled = coordize_many(prompts)
    rate = len(prompts) / (time.perf_counter() - start)
    hashed = hashed_basins(prompts)
    curriculum = [p for ps in bundled_prompts().values() for p in ps]
    print(
        f"MMLU: {len(data)} prompts, strong {data.strong.mean():.3f}, weak {data.weak.mean():.3f};"
        f" coordize_many {rate:,.0f} prompts/s; {args.epochs} epochs per kernel"
    )

    def refit(tr: NDArray[np.bool_], te: NDArray[np.bool_]) -> tuple[Basins, Basins]:
        texts = [p for p, keep in zip(prompts, tr, strict=True) if keep] + curriculum
        basins = coordize_many(prompts, vocabulary=fit_vocabulary([tokens(t) for t in texts]))
        return basins[tr], basins[te]

    results: Results = {}
    for split in ("80/20 random", "12 subjects left out"):
        for seed in seeds:
            test = (
                random_split(len(data), seed)
                if split.startswith("80/20")
                else subject_split(data.subjects, seed)
            )
            print(f"\n== {split}, seed {seed}: {int(test.sum())} test prompts")
            baselines(results, split, data, test)
            measure(
                results, split, "hashed 1-2-grams -> 64 buckets", data, test,
                lambda tr, te: (hashed[tr], hashed[te]), kinds, args.epochs,
            )  # fmt: skip
            if split.startswith("80/20") and seed == 0:
                # The bundled table was fitted on exactly this split's training prompts.
                measure(
                    results, split, "bundled vocabulary", data, test,
                    lambda tr, te: (bundled[tr], bundled[te]), kinds, args.epochs,
                )  # fmt: skip
            if not args.quick:
                measure(
                    results, split, "vocabulary refitted on training prompts", data, test,
                    refit, kinds, args.epochs,
                )  # fmt: skip
    print("\n== summary (mean ± sd over split seeds)")
    for (split, label, kind), vals in results.items():
        arr = np.array(vals)
        print(
            f"  {split:<21} {label:<42} {kind:<9} APGR {arr[:, 0].mean():.3f} ± "
            f"{arr[:, 0].std():.3f}  CPT(50%) {100 * arr[:, 1].mean():5.1f}% "
            f"± {100 * arr[:, 1].std():4.1f}  (n={len(vals)})"
        )


if __name__ == "__main__":
    main()
