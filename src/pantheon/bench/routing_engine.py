"""Routing quality of the learning engine in and out of distribution (RouteLLM MMLU, GSM8K).

    .venv/bin/python -m pantheon.bench.routing_engine [--data DIR] [--seeds 3] [--epochs 10]

Two kernels, one per model (gpt-4-1106-preview strong, Mixtral-8x7B weak), learn each
model's verdicts on the training prompts; the test prompts are routed by predicted success
(score = p_strong − p_weak) and scored by APGR (random routing: 0.50). Splits, each over
``--seeds`` seeds (mean ± standard deviation):

(a) ``80/20 by prompt``: a seeded random fifth of the MMLU prompts is held out;
(b) ``MMLU subjects left out``: 12 seeded whole subjects are held out;
(c) ``MMLU → GSM8K`` and ``GSM8K → MMLU``: trained on a seeded 80 % of one set, tested on
    all of the other.

Rows, all computed in the same run on the same splits:

- ``encoder (product)``: the product's coordizer (all-MiniLM-L6-v2 int8 → seeded random
  projection to 64-D, scaled on the encoder's vocabulary words → softmax), with the
  product's kernel. Fitted on nothing of ours: no split can leak into it.
- ``encoder + quadratic kernel``: the same basins with the ``quadratic`` kernel kind (the
  log-ratios and their pairwise products, ``models.expand``).
- ``static table (setting)``: ``PANTHEON_COORDIZER=static``, the token table distilled
  from the same encoder (``learning.static_table``) through the same reduction, with the
  product's kernel. Also fitted on nothing of ours.
- ``encoder 384-D + LR``: the same encoder's unit vectors without the 64-D reduction, one
  scikit-learn logistic regression (C = 1) per model: what the reduction costs.
- ``vocabulary coordizer (refit)``: the previous coordizer (TF-IDF → 64-D SVD), refitted
  on each split's training prompts only, with the product's kernel.
- ``TF-IDF + LR``: scikit-learn TF-IDF (word 1–2-grams, sublinear tf, min_df 2) fitted on
  the training prompts, one logistic regression (C = 1) per model.

It also prints each kernel's accuracy at predicting its model's verdict beside the
majority-verdict baseline, each representation's batch coordize speed (prompts/s, one
process, the MMLU prompts) and the encoder's memory cost. Encoder embeddings are cached
in ``bench-results/embeddings/`` by artefact digest (``pantheon.bench.embedding_cache``).
The summary is written to ``bench-results/routing_engine.txt``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pantheon.bench import baselines
from pantheon.bench import vocabulary_coordizer as vocab
from pantheon.bench.embedding_cache import cached_embeddings
from pantheon.bench.routing_data import DEFAULT_DATA, load_all
from pantheon.learning import coordizer
from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import compute_many, to_simplex
from pantheon.learning.coordizer_kind import CoordizerKind
from pantheon.learning.encoder import bundled_reduction
from pantheon.learning.evaluation import apgr
from pantheon.learning.kernel import DEFAULT_KIND, Kernel
from pantheon.learning.mmlu import Outcomes, random_split, subject_split
from pantheon.learning.reward import compute_reward
from pantheon.learning.seeds import seed_int
from pantheon.learning.timescales import train_batch

Basins = NDArray[np.float64]
Mask = NDArray[np.bool_]
OUT = Path("bench-results") / "routing_engine.txt"
SPLITS = ("80/20 by prompt", "MMLU subjects left out", "MMLU → GSM8K", "GSM8K → MMLU")


@dataclass(frozen=True)
class Split:
    """Training and test rows, as masks over the pooled prompts (MMLU then GSM8K)."""

    name: str
    seed: int
    train: Mask
    test: Mask


@dataclass
class Pool:
    prompts: list[str]
    strong: NDArray[np.bool_]
    weak: NDArray[np.bool_]
    source: NDArray[np.str_]  # "mmlu" / "gsm8k"
    subjects: NDArray[np.str_]


def pool(sets: dict[str, Outcomes]) -> Pool:
    return Pool(
        prompts=[p for d in sets.values() for p in d.prompts],
        strong=np.concatenate([d.strong for d in sets.values()]),
        weak=np.concatenate([d.weak for d in sets.values()]),
        source=np.concatenate([np.full(len(d), k) for k, d in sets.items()]),
        subjects=np.concatenate([d.subjects for d in sets.values()]),
    )


def make_split(data: Pool, name: str, seed: int) -> Split:
    mmlu = data.source == "mmlu"
    gsm = ~mmlu
    n = len(data.prompts)
    if name == SPLITS[0]:
        test = np.zeros(n, bool)
        test[mmlu] = random_split(int(mmlu.sum()), seed)
        return Split(name, seed, mmlu & ~test, test)
    if name == SPLITS[1]:
        test = np.zeros(n, bool)
        test[mmlu] = subject_split(data.subjects[mmlu], seed)
        return Split(name, seed, mmlu & ~test, test)
    source, target = (mmlu, gsm) if name == SPLITS[2] else (gsm, mmlu)
    rng = np.random.default_rng(seed_int("cross-set", name, seed))
    train = source & (rng.random(n) < 0.8)
    return Split(name, seed, train, target)


def kernel_scores(
    train: Basins,
    test: Basins,
    data: Pool,
    split: Split,
    epochs: int,
    *,
    kind: str = DEFAULT_KIND,
) -> tuple[Basins, dict[str, float]]:
    """p_strong − p_weak on the test basins, and each kernel's verdict accuracy there."""
    preds = []
    acc: dict[str, float] = {}
    for name, verdicts in (("strong", data.strong), ("weak", data.weak)):
        y = verdicts[split.train]
        rewards = np.where(y, compute_reward(True), compute_reward(False))
        kernel = Kernel(name, seed=split.seed, kind=kind)
        train_batch(kernel, Batch(train, rewards, y), epochs=epochs)
        p = kernel.predict_many(test).p_success
        preds.append(p)
        acc[name] = float(np.mean((p >= 0.5) == verdicts[split.test]))
    return preds[0] - preds[1], acc


def tfidf_scores(data: Pool, split: Split) -> Basins:
    """The same-run TF-IDF + LR baseline (``pantheon.bench.baselines``) on ``split``."""
    texts = np.array(data.prompts, dtype=object)
    train = list(texts[split.train])
    return baselines.tfidf_lr_scores(
        train, data.strong[split.train], train, data.weak[split.train], list(texts[split.test])
    )


def lr_scores(x_train: Any, x_test: Any, data: Pool, split: Split) -> Basins:
    """One logistic regression (C = 1) per model; p_strong − p_weak on the test rows."""
    return baselines.lr_scores(x_train, data.strong[split.train], data.weak[split.train], x_test)


Featurise = Callable[[Split], tuple[Basins, Basins]]


def rss_mb() -> float:
    """The process's current resident set size (Linux ``/proc``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def speeds(data: Pool, sample: int) -> list[str]:
    """Batch coordize speed of each representation on the same MMLU prompts, uncached."""
    texts = [p for p, s in zip(data.prompts, data.source, strict=True) if s == "mmlu"]
    texts = texts[:: max(1, len(texts) // sample)][:sample]
    lines = []
    before = rss_mb()
    start = time.perf_counter()
    compute_many(texts)
    rate = len(texts) / (time.perf_counter() - start)
    lines.append(
        f"encoder coordize_many: {rate:,.1f} prompts/s (1 thread, {len(texts)} MMLU prompts,"
        f" mean {np.mean([len(t) for t in texts]):.0f} chars); RSS +{rss_mb() - before:.0f} MB"
        " for the loaded encoder session"
    )
    start = time.perf_counter()
    compute_many(texts, threads=2)
    rate2 = len(texts) / (time.perf_counter() - start)
    lines.append(f"encoder coordize_many: {rate2:,.1f} prompts/s (threads=2)")
    table = vocab.fit_on_texts(texts)
    start = time.perf_counter()
    for _ in range(20):
        vocab.coordize_many(texts, table)
    rate = 20 * len(texts) / (time.perf_counter() - start)
    lines.append(f"vocabulary coordizer: {rate:,.0f} prompts/s (1 thread)")
    return lines


def static_basins(prompts: Sequence[str]) -> Basins:
    """The basins ``PANTHEON_COORDIZER=static`` gives (the product's own code path)."""
    before = coordizer.running()
    coordizer.use(CoordizerKind.STATIC)
    try:
        return compute_many(prompts)
    finally:
        coordizer.use(before)


def evaluation_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments every routing evaluation takes (this module's and the frontier's)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--speed-sample", type=int, default=200, help="0: no speed section")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = evaluation_parser(__doc__ or "")
    parser.add_argument(
        "--split",
        type=int,
        action="append",
        choices=range(len(SPLITS)),
        help="only this split (0-3, repeatable; default: all), e.g. one process per split",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sets = load_all(args.data)
    data = pool(sets)
    # Cached per set (as ``python -m pantheon.bench.embedding_cache`` fills it), pooled here.
    parts = [cached_embeddings(d.prompts) for d in sets.values()]
    emb = np.concatenate([e for e, _ in parts])
    rate = min((r for _, r in parts if r), default=None)
    encoder = to_simplex(bundled_reduction().apply(emb))
    static = static_basins(data.prompts)
    lines = [
        f"{len(data.prompts)} prompts ({int((data.source == 'mmlu').sum())} MMLU,"
        f" {int((data.source == 'gsm8k').sum())} GSM8K); embeddings "
        + (f"computed at {rate:,.1f} prompts/s" if rate else "from the cache"),
        *(speeds(data, args.speed_sample) if args.speed_sample > 0 else []),
    ]
    for line in lines:
        print(line, flush=True)

    def refit(split: Split) -> tuple[Basins, Basins]:
        texts = [p for p, keep in zip(data.prompts, split.train, strict=True) if keep]
        table = vocab.fit_on_texts(texts)
        test = [p for p, keep in zip(data.prompts, split.test, strict=True) if keep]
        return vocab.coordize_many(texts, table), vocab.coordize_many(test, table)

    product: Featurise = lambda s: (encoder[s.train], encoder[s.test])  # noqa: E731
    fast: Featurise = lambda s: (static[s.train], static[s.test])  # noqa: E731
    # (label, featuriser, kernel kind): the product's kernel, and the second-order kind.
    rows: list[tuple[str, Featurise, str]] = [
        ("encoder (product)", product, DEFAULT_KIND),
        ("encoder + quadratic kernel", product, "quadratic"),
        ("static table (setting)", fast, DEFAULT_KIND),
        ("vocabulary coordizer (refit)", refit, DEFAULT_KIND),
    ]
    results: dict[tuple[str, str], list[float]] = {}
    accuracy: dict[tuple[str, str, str], list[float]] = {}
    chosen = [SPLITS[i] for i in sorted(set(args.split))] if args.split else list(SPLITS)
    for name in chosen:
        for seed in range(args.seeds):
            split = make_split(data, name, seed)
            s, w = data.strong[split.test], data.weak[split.test]
            print(f"\n== {name}, seed {seed}: {int(split.train.sum())} train, "
                  f"{int(split.test.sum())} test", flush=True)  # fmt: skip
            for label, featurise, kind in rows:
                train, test = featurise(split)
                score, acc = kernel_scores(train, test, data, split, args.epochs, kind=kind)
                a = apgr(s, w, score)
                results.setdefault((name, label), []).append(a)
                for god, v in acc.items():
                    accuracy.setdefault((name, label, god), []).append(v)
                print(f"  {label:<30} APGR {a:.3f}  accuracy strong {acc['strong']:.3f}"
                      f" weak {acc['weak']:.3f}", flush=True)  # fmt: skip
            a = apgr(s, w, lr_scores(emb[split.train], emb[split.test], data, split))
            results.setdefault((name, "encoder 384-D + LR"), []).append(a)
            print(f"  {'encoder 384-D + LR':<30} APGR {a:.3f}", flush=True)
            a = apgr(s, w, tfidf_scores(data, split))
            results.setdefault((name, "TF-IDF + LR"), []).append(a)
            print(f"  {'TF-IDF + LR':<30} APGR {a:.3f}", flush=True)
            for god, verdicts in (("strong", data.strong), ("weak", data.weak)):
                # The training side's majority verdict, predicted for every test prompt.
                majority = verdicts[split.train].mean() >= 0.5
                base = float(np.mean(verdicts[split.test] == majority))
                accuracy.setdefault((name, "majority verdict", god), []).append(base)
    table = summary(results, accuracy, args.seeds, chosen)
    text = "\n".join([*lines, "", *table, f"\n({time.perf_counter() - started:.0f} s)"])
    print("\n" + "\n".join(table))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")


def summary(
    results: dict[tuple[str, str], list[float]],
    accuracy: dict[tuple[str, str, str], list[float]],
    seeds: int,
    splits: Sequence[str] = SPLITS,
) -> list[str]:
    labels = list(dict.fromkeys(label for _, label in results))
    head = f"{'APGR, mean ± sd over ' + str(seeds) + ' seeds':<32}" + "".join(
        f"{s:>24}" for s in splits
    )
    out = [head]
    for label in labels:
        cells = []
        for split in splits:
            v = np.array(results[(split, label)])
            cells.append(f"{v.mean():.3f} ± {v.std():.3f}".rjust(24))
        out.append(f"{label:<32}" + "".join(cells))
    out.append(f"{'random routing':<32}" + "".join(f"{'0.500':>24}" for _ in splits))
    out.append("")
    out.append(
        "verdict accuracy on test prompts (p >= 0.5), mean over seeds; majority verdict ="
        " the training side's majority for every test prompt"
    )
    out.append(f"{'':<32}" + "".join(f"{s:>24}" for s in splits))
    rows = dict.fromkeys((label, god) for _, label, god in accuracy)
    for label, god in rows:
        cells = [f"{np.mean(accuracy[(split, label, god)]):.3f}".rjust(24) for split in splits]
        out.append(f"{label[:24] + ', ' + god:<32}" + "".join(cells))
    return out


if __name__ == "__main__":
    main()
