"""Quality/speed frontier of prompt representations (RouteLLM MMLU and GSM8K).

    .venv/bin/python -m pantheon.bench.frontier [--data DIR] [--seeds 3] [--epochs 10]

For each representation, in one run: routing quality with the protocol of
``python -m pantheon.bench.routing_engine`` (its splits, kernels and APGR: (a) 80/20 by
prompt, (b) MMLU subjects left out, (c) MMLU → GSM8K and GSM8K → MMLU; mean ± sd over
``--seeds`` seeds; TF-IDF + LR on the same rows), and the cost of encoding one prompt
(text → basin, one thread, one prompt at a time as ``POST /api/route`` does).

Representations (``frontier_encoders``): the product's encoder (all-MiniLM-L6-v2 int8,
256 word pieces); the same cut to 128 and to 64 word pieces; a static token table
distilled from it (mean, and SIF-weighted mean, of the prompt's token vectors). Each is
read two ways: the product's 64-D reduction and simplex with the product's kernel, and
its 384-D vectors with one logistic regression per model (the ceiling without the 64-D
limit). Nothing is fitted on evaluation prompts: the encoder and its reduction are fixed,
the static table's rows each depend on one token alone. Writes
``bench-results/frontier.txt``; caches encoder outputs under ``bench-results/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer

from pantheon.bench.embedding_cache import cached_embeddings, prompts_digest
from pantheon.bench.frontier_encoders import StaticTable, TruncatedEncoder
from pantheon.bench.routing_data import load_all
from pantheon.bench.routing_engine import (
    SPLITS,
    Pool,
    evaluation_parser,
    kernel_scores,
    lr_scores,
    make_split,
    pool,
    tfidf_scores,
)
from pantheon.learning.coordizer import compute_many, to_simplex
from pantheon.learning.encoder import MODEL_FILE, TOKENIZER_FILE, data_path, file_digest
from pantheon.learning.encoder import bundled_reduction as reduction
from pantheon.learning.evaluation import apgr
from pantheon.learning.mmlu import Outcomes

Arr = NDArray[np.float64]
PRODUCT = "MiniLM int8, 256 pieces (product)"
TRUNCATIONS = (128, 64)
TFIDF = "TF-IDF + LR (same run)"
Results = dict[tuple[str, str], list[float]]


def subsample(sets: dict[str, Outcomes], limit: int) -> dict[str, Outcomes]:
    """Every k-th row of each set, at most ``limit`` rows per set (0: all)."""
    if limit <= 0:
        return sets
    out = {}
    for name, d in sets.items():
        idx = np.arange(len(d))[:: max(1, len(d) // limit)][:limit]
        out[name] = Outcomes([d.prompts[i] for i in idx], d.weak[idx], d.strong[idx],
                             d.subjects[idx])  # fmt: skip
    return out


def truncated(full: Arr, prompts: list[str], max_tokens: int, cache: Path) -> Arr:
    """Embeddings cut to ``max_tokens``: only prompts longer than that change, so only
    they are encoded again (each text alone, as for ``full``: the same ids give the same
    vector)."""
    model = file_digest(data_path(MODEL_FILE), data_path(TOKENIZER_FILE))[:16]
    path = cache / f"trunc{max_tokens}-{model}-{prompts_digest(prompts)[:16]}.npy"
    if path.exists():
        return np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
    enc = TruncatedEncoder(max_tokens)
    longer = np.flatnonzero(enc.lengths(prompts) > max_tokens)
    emb = full.copy()
    if longer.size:
        emb[longer] = enc.embed_many([prompts[i] for i in longer])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, emb, allow_pickle=False)
    return emb


def basins(emb: Arr) -> Arr:
    """The product's 384 → 64 reduction and simplex map."""
    return to_simplex(reduction().apply(emb))


Encode = Callable[[str], object]


def _truncated_encode(enc: TruncatedEncoder) -> Encode:
    return lambda t: basins(enc.embed_many([t]))


def _static_encode(table: StaticTable, weighting: str) -> Encode:
    return lambda t: basins(table.embed_many([t], weighting))


def encoders(table: StaticTable) -> dict[str, Encode]:
    """text → basin for each representation, as a route would call it (one text)."""
    out: dict[str, Encode] = {PRODUCT: lambda t: compute_many([t])}
    for n in TRUNCATIONS:
        out[f"MiniLM int8, {n} pieces"] = _truncated_encode(TruncatedEncoder(n))
    for w in ("mean", "sif"):
        out[f"static table, {w}"] = _static_encode(table, w)
    return out


def timings(encode: Encode, texts: Sequence[str]) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, mean CPU ms) per prompt, one thread, after one warm-up call."""
    encode(texts[0])
    wall, cpu = [], []
    for text in texts:
        w0, c0 = time.perf_counter(), time.thread_time()
        encode(text)
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    ms = np.array(wall) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(np.mean(cpu) * 1000)


def speed_rows(data: Pool, table: StaticTable, sample: int) -> dict[str, list[float]]:
    """Per representation: [p50, p99, CPU] on MMLU prompts, then on GSM8K prompts."""
    samples = []
    for source in ("mmlu", "gsm8k"):
        texts = [p for p, s in zip(data.prompts, data.source, strict=True) if s == source]
        samples.append(texts[:: max(1, len(texts) // sample)][:sample])
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    vec.fit(data.prompts[::2])  # any fitted vocabulary: only its speed is measured here
    table.fill(table.token_ids([t for s in samples for t in s]))
    rows: dict[str, list[float]] = {}
    for label, encode in {**encoders(table), TFIDF: lambda t: vec.transform([t])}.items():
        rows[label] = [v for texts in samples for v in timings(encode, texts)]
    return rows


def quality(data: Pool, reps: dict[str, Arr], seeds: int, epochs: int) -> Results:
    results: Results = {}
    for name in SPLITS:
        for seed in range(seeds):
            split = make_split(data, name, seed)
            s, w = data.strong[split.test], data.weak[split.test]
            print(f"\n== {name}, seed {seed}: {int(split.train.sum())} train, "
                  f"{int(split.test.sum())} test", flush=True)  # fmt: skip
            for label, emb in reps.items():
                b = basins(emb)
                score, _acc = kernel_scores(b[split.train], b[split.test], data, split, epochs)
                lr = lr_scores(emb[split.train], emb[split.test], data, split)
                pairs = (("64-D kernel", apgr(s, w, score)), ("384-D LR", apgr(s, w, lr)))
                for kind, value in pairs:
                    results.setdefault((name, f"{label} | {kind}"), []).append(value)
                    print(f"  {label + ' | ' + kind:<50} APGR {value:.3f}", flush=True)
            a = apgr(s, w, tfidf_scores(data, split))
            results.setdefault((name, TFIDF), []).append(a)
            print(f"  {TFIDF:<50} APGR {a:.3f}", flush=True)
    return results


def table_lines(results: Results, speed: dict[str, list[float]], seeds: int) -> list[str]:
    labels = list(dict.fromkeys(label for _, label in results))
    heads = ["ms p50 MMLU", "p99", "CPU", "ms p50 GSM8K", "p99", "CPU"]
    out = [f"APGR mean ± sd over {seeds} seeds; ms per prompt, one thread, one at a time",
           f"{'representation | router':<50}" + "".join(f"{h:>13}" for h in heads)
           + "".join(f"{s:>24}" for s in SPLITS)]  # fmt: skip
    for label in labels:
        cost = speed.get(label.split(" | ")[0], [])
        cells = "".join(f"{v:>13.2f}" for v in cost) if cost else " " * 13 * len(heads)
        for split in SPLITS:
            v = np.array(results[(split, label)])
            cells += f"{v.mean():.3f} ± {v.std():.3f}".rjust(24)
        out.append(f"{label:<50}" + cells)
    out.append(f"{'random routing':<50}" + " " * 13 * len(heads)
               + "".join(f"{'0.500':>24}" for _ in SPLITS))  # fmt: skip
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = evaluation_parser(__doc__ or "")
    parser.add_argument("--limit", type=int, default=0, help="rows per set (0: all)")
    parser.add_argument("--cache", type=Path, default=Path("bench-results"))
    parser.add_argument("--out", type=Path, default=Path("bench-results") / "frontier.txt")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    sets = subsample(load_all(args.data), args.limit)
    data = pool(sets)
    full = np.concatenate([cached_embeddings(d.prompts, cache_dir=args.cache / "embeddings")[0]
                           for d in sets.values()])  # fmt: skip
    frontier_cache = args.cache / "frontier"
    table = StaticTable(frontier_cache)
    distilled = table.fill(table.token_ids(data.prompts))
    reps: dict[str, Arr] = {PRODUCT: full}
    for n in TRUNCATIONS:
        reps[f"MiniLM int8, {n} pieces"] = truncated(full, data.prompts, n, frontier_cache)
    for w in ("mean", "sif"):
        reps[f"static table, {w}"] = table.embed_many(data.prompts, w)
    head = [f"{len(data.prompts)} prompts ({int((data.source == 'mmlu').sum())} MMLU, "
            f"{int((data.source == 'gsm8k').sum())} GSM8K); static table: "
            f"{int(table.known.sum())} of {table.vocab_size} tokens distilled "
            f"({distilled} this run)"]  # fmt: skip
    print(head[0], flush=True)
    speed = speed_rows(data, table, args.speed_sample)
    results = quality(data, reps, args.seeds, args.epochs)
    lines = table_lines(results, speed, args.seeds)
    text = "\n".join([*head, "", *lines, f"\n({time.perf_counter() - started:.0f} s)"])
    print("\n" + "\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
