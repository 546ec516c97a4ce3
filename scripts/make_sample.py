"""Rebuild the bundled sample (``src/pantheon/data/sample/``) from the RouteLLM data.

    .venv/bin/python scripts/make_sample.py [--source ../shared/data/routellm]

Picks a seeded share of each MMLU subject's prompts and of the GSM8K prompts (prompts
ranked by a seeded sha256, so the pick is the same on every machine), converts them with
``pantheon.datasets.routellm`` and writes ``routellm_sample.jsonl.gz`` plus the roster,
the licence and the attribution beside it. Running it twice gives identical bytes.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from pantheon.datasets.jsonl import write_lines
from pantheon.datasets.routellm import ImportReport, prompt_rank, read_benchmark_csv

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "routellm"
OUT = ROOT / "src" / "pantheon" / "data" / "sample"
SAMPLE_NAME = "routellm_sample.jsonl.gz"
SEED = 20261128
MMLU_SHARE = 0.17  # ~2,000 of 11,831 prompts, every subject in proportion
GSM8K_PROMPTS = 400
ROSTER = {
    "gods": [
        {
            "name": "gpt-4-1106-preview",
            "domain": "the strong model: broad knowledge, careful multi-step reasoning, "
            "mathematics, law and medicine",
        },
        {
            "name": "mistralai/Mixtral-8x7B-Instruct-v0.1",
            "domain": "the weak, cheap model: everyday facts, short questions, "
            "simple arithmetic and common knowledge",
        },
    ]
}


def pick(outcomes: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Every outcome of the ``count`` prompts ranked first by the seeded hash."""
    prompts = sorted({o["prompt"] for o in outcomes}, key=lambda p: prompt_rank(p, SEED))
    chosen = set(prompts[:count])
    return [o for o in outcomes if o["prompt"] in chosen]


def build(source: Path) -> list[dict[str, Any]]:
    report = ImportReport()
    sample: list[dict[str, Any]] = []
    for path in sorted((source / "mmlu").glob("mmlu_*.csv")):
        rows = list(read_benchmark_csv(path, report))
        prompts = len({o["prompt"] for o in rows})
        sample.extend(pick(rows, max(1, round(prompts * MMLU_SHARE))))
    gsm8k = list(read_benchmark_csv(source / "gsm8k_responses.csv", report))
    sample.extend(pick(gsm8k, GSM8K_PROMPTS))
    if report.skipped:
        print(f"skipped {len(report.skipped)} cells, e.g. {report.skipped[:3]}")
    return sample


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    sample = build(args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    count = write_lines(sample, args.out / SAMPLE_NAME)
    (args.out / "roster.json").write_text(json.dumps(ROSTER, indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(args.source / "LICENSE", args.out / "LICENSE")
    per_god = Counter(o["god_name"] for o in sample)
    prompts = len({o["prompt"] for o in sample})
    print(f"wrote {count} outcomes over {prompts} prompts to {args.out / SAMPLE_NAME}")
    for god, n in sorted(per_god.items()):
        wins = sum(o["success"] for o in sample if o["god_name"] == god)
        print(f"  {god}: {n} outcomes, accuracy {wins / n:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
