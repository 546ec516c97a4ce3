"""Batch coordize speed and the encoder's memory, for ``make bench`` and the routing benchmark.

    .venv/bin/python -m pantheon.bench.coordize_speed [--prompts 64] [--threads 1] \
        [--kind encoder|static] [--json]

``measure(prompts, threads)`` encodes two fixed prompt sets with ``coordizer.compute_many``
(never the shipped table of known basins, never a cache): short chat-like prompts (the
bundled curriculum, ~60 characters) and long benchmark-like prompts (the demo sample's
MMLU questions with their choices, ~500 characters). It returns prompts/s per set, the
process's resident memory before the encoder was loaded and after both runs, and the
p50/p99 of single short prompts (what ``/api/route`` pays on a cache miss). Figures are
per process; ``threads`` > 1 runs that many single-threaded encodes at once. ``--kind``
picks the representation (``PANTHEON_COORDIZER``); ``make bench`` runs every kind in its own
process (``benchmarks.pipeline_phases.coordize_speeds``) and reports them side by side.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from pantheon.learning import coordizer
from pantheon.learning.coordizer_kind import CoordizerKind
from pantheon.learning.curriculum import bundled_prompts


def rss_mb() -> float:
    """The process's current resident set size (Linux ``/proc``), in MB; NaN elsewhere."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def short_prompts(n: int) -> list[str]:
    texts = [p for ps in bundled_prompts().values() for p in ps]
    return texts[:: max(1, len(texts) // n)][:n]


def long_prompts(n: int) -> list[str]:
    path = resources.files("pantheon.data.sample").joinpath("routellm_sample.jsonl.gz")
    with gzip.open(str(path), "rt", encoding="utf-8") as fh:
        texts = sorted({json.loads(line)["prompt"] for line in fh if line.strip()})
    texts = [t for t in texts if len(t) >= 300] or texts
    return texts[:: max(1, len(texts) // n)][:n]


def _rate(texts: Sequence[str], threads: int) -> float:
    start = time.perf_counter()
    coordizer.compute_many(texts, threads=threads)
    return len(texts) / (time.perf_counter() - start)


def measure(prompts: int = 64, threads: int = 1) -> dict[str, float]:
    """Prompts/s on short and long prompts, single-prompt latency and the encoder's RSS."""
    short, long = short_prompts(prompts), long_prompts(prompts)
    before = rss_mb()
    coordizer.compute_many(short[:2])  # loads the session; not timed
    latencies = []
    for text in short:
        start = time.perf_counter()
        coordizer.compute_many([text])
        latencies.append(1000 * (time.perf_counter() - start))
    latencies.sort()
    out = {
        "coordize_short_per_s": _rate(short, threads),
        "coordize_long_per_s": _rate(long, threads),
        "coordize_short_p50_ms": statistics.median(latencies),
        "coordize_short_p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "coordize_short_chars": statistics.mean(len(t) for t in short),
        "coordize_long_chars": statistics.mean(len(t) for t in long),
        "coordize_threads": float(threads),
        "encoder_rss_mb": rss_mb() - before,
    }
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kind", type=CoordizerKind, default=CoordizerKind.ENCODER)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    coordizer.use(args.kind)
    figures = measure(args.prompts, args.threads)
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key}: {value:,.1f}")


if __name__ == "__main__":
    main()
