"""Summaries of a py-spy ``--format raw`` profile (collapsed stacks): where time goes.

python -m benchmarks.pipeline_profile bench-results/profile-web.txt [--top 25]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path


def read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    """(frames root-first, samples) per line of a collapsed-stack file."""
    stacks = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarise(
    stacks: list[tuple[list[str], int]], top: int = 25, match: str = ""
) -> dict[str, list[tuple[str, float]]]:
    """Top frames by own time and by time inside them (shares of the samples kept)."""
    kept = [(f, n) for f, n in stacks if not match or any(match in x for x in f)]
    total = sum(n for _, n in kept) or 1
    own: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    for frames, n in kept:
        own[frames[-1]] += n
        for frame in set(frames):
            inside[frame] += n
    return {
        "own": [(f, n / total) for f, n in own.most_common(top)],
        "inside": [(f, n / total) for f, n in inside.most_common(top)],
    }


#: Where a Celery worker's samples go, first match wins (frame substrings, leaf to root
#: order does not matter). A forked child's stack starts inside the parent's fork call.
WORKER_BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("child: imports inside a task (lazy import after fork)", ("_find_and_load",)),
    ("child: task body", ("run_task",)),
    ("child: celery/billiard around the task", ("Popen._launch",)),
    ("parent: forking a new child (gc.collect + fork)", ("_create_worker_process",)),
    ("parent: broker and event loop", ("asynloop",)),
)


def buckets(
    stacks: list[tuple[list[str], int]],
    rules: tuple[tuple[str, tuple[str, ...]], ...] = WORKER_BUCKETS,
) -> list[tuple[str, float]]:
    """Share of samples per bucket (the first rule with a frame containing a substring)."""
    total = sum(n for _, n in stacks) or 1
    counts: Counter[str] = Counter()
    for frames, n in stacks:
        label = next(
            (name for name, keys in rules if any(k in f for f in frames for k in keys)),
            "other",
        )
        counts[label] += n
    return [(label, n / total) for label, n in counts.most_common()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="keep only stacks with a frame containing it")
    parser.add_argument("--worker", action="store_true", help="split a Celery worker's time")
    args = parser.parse_args(argv)
    stacks = read_collapsed(args.profile)
    if args.worker:
        for label, share in buckets(stacks):
            print(f"{share:6.1%}  {label}")
        return 0
    summary = summarise(stacks, args.top, args.match)
    for title, rows in summary.items():
        print(f"-- {title} time")
        for frame, share in rows:
            print(f"{share:6.1%}  {frame[:150]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
