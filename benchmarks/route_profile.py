"""Where a route's CPU goes, stage by stage, in-process (no HTTP), on the configured database.

    DATABASE_URL=... PANTHEON_ROSTER_FILE=... python -m benchmarks.route_profile [--n 500]

Runs ``decisions.route`` (the code behind ``POST /api/route``) and each of its stages
alone on the same prompts, and prints the thread CPU milliseconds per call of each
(``time.thread_time``: this thread only, so other load on the machine changes it little):
the candidate lookup (routing cache), the basin of a known prompt (shipped basins, no
encoder), the basin of a fresh prompt (the encoder), the kernels' predictions, the
policy's draw, the decision's INSERT + commit, and the whole route for known prompts.
The web's own share (HTTP, middleware, validation, JSON) is the web's CPU per request
(``benchmarks.route_latency --pid``) minus the whole route here. The database server's CPU
for the INSERT is not in these figures.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pantheon.clock import utcnow
from pantheon.config import Settings
from pantheon.demo.run import load_sample
from pantheon.learning.policy import choose, seeded_source
from pantheon.store.basins import encode_basins
from pantheon.training import decisions
from pantheon.training.encoding import route_basin
from pantheon.training.routing import cache_for
from pantheon.training.service import TrainingService

from .route_latency import fresh_prompts


def per_call_ms(fn: Callable[[int], object], n: int) -> float:
    """Mean thread CPU ms of ``fn(i)`` over ``n`` calls, after ten warm-up calls."""
    for i in range(10):
        fn(i)
    start = time.thread_time()
    for i in range(n):
        fn(i)
    return 1000 * (time.thread_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--fresh", type=Path, default=None, help="RouteLLM data directory")
    args = parser.parse_args()
    service = TrainingService(Settings())
    sample = sorted({r["prompt"] for r in load_sample()})
    known = sample[: args.n + 10]
    cache = cache_for(service)
    entries = cache.entries(service, None)
    basin = route_basin(known[0], service.basin_cache)
    ranked = decisions._score(service, basin, entries, 0.0)
    scores = np.array([r[5] for r in ranked])
    policy = decisions.policy_for(service.settings, None)
    source = seeded_source(0)

    def record(_i: int) -> None:
        row = {
            "id": uuid.uuid4(),
            "created_at": utcnow(),
            "prompt_sha256": "0" * 64,
            "basin": encode_basins(basin[None, :])[0],
            "candidates": [r[0] for r in ranked],
            "scores": [r[5] for r in ranked],
            "probabilities": [0.5 for _ in ranked],
            "predictions": [{"p_success": r[1]} for r in ranked],
            "chosen_god": ranked[0][0],
            "propensity": 0.5,
            "policy": policy.kind.value,
            "policy_params": policy.params(),
            "kernel_versions": {},
        }
        decisions._record(service, row)

    stages: dict[str, Callable[[int], object]] = {
        "candidate lookup (routing cache)": lambda _i: cache.entries(service, None),
        "basin, known prompt (no encoder)": lambda i: route_basin(known[i], None),
        "kernel predictions (every god)": lambda _i: decisions._score(service, basin, entries, 0.0),
        "policy draw": lambda _i: choose(policy, scores, source),
        "decision INSERT + commit": record,
        "whole route, known prompt": lambda i: decisions.route(service, known[i]),
    }
    out = {name: round(per_call_ms(fn, args.n), 3) for name, fn in stages.items()}
    if args.fresh is not None:
        fresh = fresh_prompts(args.fresh, set(sample))[: min(args.n, 200) + 10]
        out["basin, fresh prompt (encoder)"] = round(
            per_call_ms(lambda i: route_basin(fresh[i], None), min(args.n, 200)), 3
        )
    print(json.dumps({"dialect": service.database.dialect_name, "ms_per_call": out}, indent=2))


if __name__ == "__main__":
    main()
