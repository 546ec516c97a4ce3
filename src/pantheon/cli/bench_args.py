"""Arguments of ``pantheon bench <benchmark>``, one sub-command per benchmark.

``routing`` runs in :mod:`pantheon.cli.bench`, ``online`` in :mod:`pantheon.cli.bench_online`
and ``pipeline`` in :mod:`pantheon.cli.bench_pipeline`; the pipeline's own options come from
``benchmarks/pipeline.py`` in the source checkout (left out when there is none).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pantheon.cli.bench_pipeline import benchmark_module


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", help="benchmarks: routing quality, pipeline throughput")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    register_routing(benchmarks)
    register_pipeline(benchmarks)
    register_online(benchmarks)


def register_routing(benchmarks: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    routing = benchmarks.add_parser(
        "routing",
        help="train on one outcome file, route another's prompts, print APGR and CPT",
        description="Train kernels from the --train outcomes (intake, online steps, hourly "
        "batch, nightly consolidation; sync mode on a throwaway SQLite database), route every "
        "--test prompt between --strong and --weak by predicted reward, and print APGR, "
        "CPT(50%) and CPT(80%) beside random and oracle routing.",
    )
    routing.add_argument("--train", type=Path, required=True, help="training outcomes (JSONL)")
    routing.add_argument("--test", type=Path, required=True, help="held-out outcomes (JSONL)")
    routing.add_argument("--strong", required=True, help="the strong (expensive) god")
    routing.add_argument("--weak", required=True, help="the weak (cheap) god")
    routing.add_argument("--json", action="store_true", help="print the figures as JSON")
    routing.set_defaults(runner="pantheon.cli.bench:run_routing")


def register_pipeline(benchmarks: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pipeline = benchmarks.add_parser(
        "pipeline",
        help="throughput, latency, freshness and memory of the real services, with baselines",
        description="Start a private Redis, a fresh PostgreSQL database, the web service, one "
        "worker and Beat; measure intake, online training, freshness, hourly batch, "
        "consolidation scaling, routing and memory beside same-run baselines; write "
        "bench-results/ and print the table with each target.",
    )
    try:
        module = benchmark_module()
    except ImportError:
        module = None
    if module is not None:
        module.add_arguments(pipeline)
    pipeline.set_defaults(runner="pantheon.cli.bench_pipeline:run_pipeline")


def register_online(benchmarks: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    online = benchmarks.add_parser(
        "online",
        help="replay outcomes as live traffic: route, post only the chosen verdict, learn",
        description="Replay --train (RouteLLM-format JSON Lines, both gods answered every "
        "prompt) as live traffic through the route -> outcome path (embedded, sync, SQLite in "
        "a temporary directory; the schedule on a simulated clock): only the chosen god's "
        "verdict is posted back. Prints held-out APGR on --test every N prompts for the "
        "exploring policy, greedy, random and full-information training, and the doubly "
        "robust estimate of the final greedy policy against its true value.",
    )
    online.add_argument("--train", type=Path, required=True, help="outcomes to replay (JSONL)")
    online.add_argument("--test", type=Path, required=True, help="held-out outcomes (JSONL)")
    online.add_argument("--strong", required=True, help="the strong (expensive) god")
    online.add_argument("--weak", required=True, help="the weak (cheap) god")
    online.add_argument("--every", type=int, default=1000, help="measure every N prompts")
    online.add_argument("--hours", type=int, default=24, help="simulated hours of traffic")
    online.add_argument("--limit", type=int, default=None, help="replay only N prompts")
    online.add_argument(
        "--chunk", type=int, default=32, help="prompts routed before their outcomes come back"
    )
    online.add_argument("--json", action="store_true", help="print the figures as JSON")
    online.set_defaults(runner="pantheon.cli.bench_online:run_online")
