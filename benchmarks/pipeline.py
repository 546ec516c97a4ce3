"""The pipeline benchmark: the real services under load, with same-run baselines.

    python -m benchmarks.pipeline [--out bench-results]     (make bench)

Starts a private Redis, a fresh PostgreSQL database (the machine's server when it answers,
else a private cluster), ``pantheon serve``, one Celery worker (``--concurrency 2``) and
``pantheon beat`` (:mod:`pantheon.testing`), then measures, in this order, on real outcome rows
(:mod:`benchmarks.pipeline_rows`):

0. warm-up: one batch (``--warm``), a few single outcomes and routes, trained by the
   worker; then the worker stops consuming ``training_fast`` (Celery remote control);
1. intake, batch: ``POST /api/outcomes/batch`` (1,000 a request, several client processes),
   the rows piling up as a backlog; baseline: binary COPY of the same rows, as intake
   stores them (no basin), into a scratch copy of the outcomes table;
2. intake, single: ``POST /api/outcomes`` at a few concurrencies; baseline: a no-op FastAPI
   endpoint served by uvicorn the way ``pantheon serve`` serves the app, same bodies;
3. online training: the worker consumes again and drains the backlog for at most
   ``--drain-timeout`` s; rate from the rows' ``trained_online_at``. The worker encodes
   every prompt it trains, so the window usually ends with a backlog: it is deleted
   (``online_set_aside``) so the phases after start from a steady state;
4. memory: web and worker RSS (with children; and the main process alone) when warm, after
   the 100k+ outcomes were taken in and the drain, and at the end;
5. no-op Celery baselines: a backlog of no-op tasks drained by a worker with the product's
   Celery settings (``noop_task_per_s``) and by a plain Celery worker with Celery's
   defaults (``noop_task_default_per_s``);
6. freshness: 2xx → ``trained_online_at`` at a steady offered load, from an empty queue,
   twice at the same offered rate, ``--freshness-share`` (0.8) of the lower of the best
   single-intake rate and the online training rate (:mod:`benchmarks.pipeline_freshness`):
   as a chat app sends outcomes (each after its route, with the ``decision_id``;
   ``freshness_*``) and unlinked (``freshness_unlinked_*``); ``*_load_share`` is the
   offered load over the best single intake, ``*_achieved_ratio`` the rate the run
   achieved over the offered one (the freshness target counts only at 0.95 or more);
7. hourly batch: ``train_hourly_batch_all`` over every pending row, via the API and worker,
   after ``--hourly-rows`` outcomes were copied in as trained online and queued
   (:func:`benchmarks.pipeline_phases.seed_batch_backlog`);
8. routing: ``POST /api/route`` latency and throughput at one and four clients, over
   the bundled sample's prompts, whose basins ship with the package (``route_*``: the
   route path without the encoder), then over short chat-like prompts the web has never
   seen, each encoded by its route (``route_fresh_*``,
   :func:`benchmarks.pipeline_phases.route_fresh`); with ``--route-only``, the only
   phase after the warm-up; then batch coordize speed and
   memory of each representation (``PANTHEON_COORDIZER``), each in a fresh process
   (``coordize_<kind>_*``, :func:`benchmarks.pipeline_phases.coordize_speeds`);
9. consolidation at 10k/100k/1M outcomes, in-process (:mod:`benchmarks.pipeline_consolidation`;
   ``--skip-consolidation``);
10. cost versus table size: the store's hot paths with ``--growth-small`` and
    ``--growth-big`` outcomes stored (:mod:`benchmarks.table_growth`; ``--growth-big 0``
    skips it).

Beat runs throughout with its jobs moved to 1 January (so no scheduled batch or outbox sweep
touches the measured rows); the web dispatches in ``celery`` mode. Everything is bounded
in time and stops by itself.
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import sys
import time
import uuid
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

from benchmarks.pipeline_baselines import copy_baseline, libpq_url, noop_task_baseline
from benchmarks.pipeline_consolidation import base_arrays, engine_scaling, service_scaling
from benchmarks.pipeline_freshness import freshness_runs
from benchmarks.pipeline_phases import (
    Run,
    coordize_speeds,
    count_outcomes,
    hourly_batch,
    intake_batch,
    intake_single,
    online_drain,
    pending_online,
    route,
    route_fresh,
    seed_batch_backlog,
    set_aside_backlog,
)
from benchmarks.pipeline_procs import (
    CpuMeter,
    consume,
    drop_machine_database,
    machine_database,
    maybe_profile,
    noop_web,
    purge,
    record_cpu,
    start_noop_worker,
    start_worker,
    steady_rss_mb,
)
from benchmarks.pipeline_report import markdown, plots, write_json
from benchmarks.pipeline_rows import expand, load_sample, roster_gods, sample_dir
from benchmarks.pipeline_stats import TABLE_HEADER, local_slopes, ratio, results_table, rss_growth
from benchmarks.table_growth import run as table_growth
from pantheon.learning.coordizer_kind import CoordizerKind
from pantheon.testing import Stack, wait_until
from pantheon.worker.queues import FAST

log = logging.getLogger("benchmarks.pipeline")

#: Beat keeps running, but none of its jobs falls due during a run.
QUIET_SCHEDULE = {
    "PANTHEON_SCHEDULE_HOURLY": "0 0 1 1 *",
    "PANTHEON_SCHEDULE_NIGHTLY": "0 0 1 1 *",
    "PANTHEON_SCHEDULE_SHADOW_SYNC": "0 0 1 1 *",
    "PANTHEON_SCHEDULE_CLEANUP": "0 0 1 1 *",
    "PANTHEON_SCHEDULE_OUTBOX": "0 0 1 1 *",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__)
    add_arguments(parser)
    return parser.parse_args(argv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the benchmark."""
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--rows", type=int, default=100_000, help="batch-intake outcomes")
    parser.add_argument("--clients", type=int, default=3, help="batch-intake client processes")
    parser.add_argument("--single", type=int, default=8_000, help="outcomes per concurrency")
    parser.add_argument("--concurrency", default="1,4,16", help="single-intake levels")
    parser.add_argument("--seconds", type=float, default=5.0, help="per latency run")
    parser.add_argument("--freshness-seconds", type=float, default=15.0)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument(
        "--hourly-rows",
        type=int,
        default=100_000,
        help="outcomes copied in as trained online and queued for the hourly batch",
    )
    parser.add_argument("--noop-tasks", type=int, default=800)
    parser.add_argument(
        "--warm",
        type=int,
        default=200,
        help="warm-up batch outcomes (trained before the start memory is read; the worker "
        "encodes each prompt, so this is kept small)",
    )
    parser.add_argument(
        "--noop-default-tasks", type=int, default=3000, help="no-op tasks, Celery's defaults"
    )
    parser.add_argument(
        "--freshness-share",
        type=float,
        default=0.8,
        help="offered freshness load, as a share of the slower of max single intake and "
        "online training",
    )
    parser.add_argument("--roster", choices=("default", "sample"), default="default")
    parser.add_argument(
        "--coordizer",
        choices=[kind.value for kind in CoordizerKind],
        default=CoordizerKind.ENCODER.value,
        help="PANTHEON_COORDIZER of the web and worker (default: the product's default)",
    )
    parser.add_argument(
        "--postgres",
        choices=("auto", "machine", "private"),
        default="auto",
        help="machine: a fresh database on 127.0.0.1:5432; private: the harness's cluster",
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="consolidation sizes")
    parser.add_argument("--skip-consolidation", action="store_true")
    parser.add_argument(
        "--route-only",
        action="store_true",
        help="after the warm-up, only the routing phase (a quick before/after of the route)",
    )
    parser.add_argument(
        "--growth-small", type=int, default=100_000, help="cost vs table size: smaller table"
    )
    parser.add_argument(
        "--growth-big",
        type=int,
        default=10_000_000,
        help="cost vs table size: larger table (0 skips; benchmarks/table_growth.py)",
    )
    parser.add_argument(
        "--profile",
        choices=("none", "web", "single", "worker", "freshness", "hourly", "route"),
        default="none",
        help="py-spy record one phase: web (batch intake), single (web, single intake and "
        "its no-op runs), worker (online drain), freshness (worker), hourly (worker), "
        "route (web); writes profile-<phase>.txt",
    )


# --- the run ---------------------------------------------------------------------------------


def run_pipeline(opts: argparse.Namespace) -> dict[str, Any]:
    out = opts.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    levels = [int(c) for c in str(opts.concurrency).split(",") if c.strip()]
    source = load_sample()
    gods = roster_gods(opts.roster)
    run_id = uuid.uuid4().hex[:8]
    sizes = {"batch": opts.rows, "single": opts.single * len(levels), "fresh": 40_000}
    sizes["warm"] = opts.warm + 10
    sizes["hourly"] = opts.hourly_rows
    rows, offset = {}, 0
    for name, count in sizes.items():
        rows[name] = expand(source, count, run_id, gods, offset=offset)
        offset += count
    env = dict(QUIET_SCHEDULE, PANTHEON_TASK_MODE="celery", PANTHEON_COORDIZER=opts.coordizer)
    if opts.roster == "sample":
        env["PANTHEON_ROSTER_FILE"] = str(sample_dir() / "roster.json")
    postgres, machine_db = machine_database(opts.postgres)
    started = time.time()
    context = [
        f"rows: bundled sample of {len(source):,} real RouteLLM outcomes, repeated and varied "
        f"(prompt suffix per repetition, own outcome_key), roster {opts.roster}",
        f"prompt representation: PANTHEON_COORDIZER={opts.coordizer}",
        f"PostgreSQL: {'machine server, fresh database' if machine_db else 'private cluster'}; "
        "Redis: private; web: pantheon serve; worker: --concurrency 2; Beat running",
    ]
    try:
        with Stack(work / "stack", postgres=postgres, env=env) as stack:
            run = Run(web_url="", database_url=stack.database_url, work_dir=work / "load")
            try:
                measure(stack, run, opts, levels, rows, source)
            except Exception as exc:  # what was measured is still written, and says so
                log.exception("the benchmark stopped early")
                run.note(f"stopped early: {type(exc).__name__}: {exc}"[:500])
                run.results["stopped_early"] = True
    finally:
        drop_machine_database(machine_db)
        # The request bodies and raw load records (~100 MB) served their purpose; the
        # services' logs stay in work/stack.
        shutil.rmtree(work / "load", ignore_errors=True)
    results = finish(run, opts, started, context)
    write_outputs(out, results, run, context)
    return results


def measure(
    stack: Stack,
    run: Run,
    opts: argparse.Namespace,
    levels: list[int],
    rows: dict[str, list[dict[str, Any]]],
    source: list[dict[str, Any]],
) -> None:
    res, out = run.results, opts.out.resolve()
    stack.migrate()
    web = stack.serve()
    run.web_url = web.url
    stack.beat()
    worker = start_worker(stack)
    warm_up(run, rows["warm"], source)
    wait_until(lambda: pending_online(run) == 0, 600, 0.5, what="warm-up outcomes trained")
    consume(stack, FAST, on=False)  # outcomes queue up from here: the drain is measured later
    time.sleep(2.0)
    memory(res, "start", web.pid, worker.pid)

    redis_proc = stack.own_redis().proc
    assert redis_proc is not None, "the private Redis is running"
    pids = {"web": web.pid, "worker": worker.pid, "redis": redis_proc.pid}
    meter = CpuMeter(libpq_url(stack.database_url), stack.database_url.rsplit("/", 1)[1], pids)

    if opts.route_only:
        routing(run, opts, source, meter, web.pid)
        return

    log.info("intake, batch: %d outcomes", len(rows["batch"]))
    spy = maybe_profile(opts.profile, "web", web.pid, out)
    meter.start()
    intake_batch(run, rows["batch"], opts.clients, 1000)
    record_cpu(res, "intake_batch", meter.stop(), res["intake_batch_outcomes"])
    spy.stop()
    res.update(copy_baseline(stack.database_url, rows["batch"]))
    log.info("intake batch %.0f/s; COPY %.0f/s", res["intake_batch_per_s"], res["copy_per_s"])

    log.info("intake, single at %s", levels)
    noop = noop_web(stack)
    spy = maybe_profile(opts.profile, "single", web.pid, out)
    stored = count_outcomes(run)
    meter.start()
    intake_single(run, rows["single"], levels, opts.seconds, noop.url)
    record_cpu(res, "intake_single", meter.stop(), count_outcomes(run) - stored)
    spy.stop()
    noop.stop()
    log.info("intake single best %.0f/s; no-op %.0f/s", res["intake_single_per_s"],
             res["noop_web_per_s"])  # fmt: skip

    log.info("online training: the worker drains the backlog")
    spy = maybe_profile(opts.profile, "worker", worker.pid, out)
    meter.start()
    online_drain(run, lambda: consume(stack, FAST, on=True), opts.drain_timeout)
    record_cpu(res, "online", meter.stop(), res["online_trained"])
    spy.stop()
    log.info("online %.0f/s; 90 %% of %d in %.1f s (%s left)", res["online_trained_per_s"],
             res["online_backlog"], res["online_90pct_s"], res["online_left"])  # fmt: skip
    time.sleep(1.0)
    memory(res, "after", web.pid, worker.pid)  # after 100k+ outcomes taken in and trained

    res["online_set_aside"] = 0
    if pending_online(run) > 0:
        # The worker encodes each prompt it trains (the encoder bounds its rate), so the
        # drain window may end with a backlog. It is set aside (deleted, counted), not
        # trained: freshness and the hourly batch then start from a steady state.
        consume(stack, FAST, on=False)
        time.sleep(2.0)
        purge(stack, FAST)
        res["online_set_aside"] = set_aside_backlog(run)
        run.note(f"{res['online_set_aside']} outcomes still untrained after the "
                 f"{opts.drain_timeout:.0f} s drain window were deleted before freshness "
                 "and the hourly batch")  # fmt: skip
        consume(stack, FAST, on=True)
    # Every outcome left is trained, so what still waits on the fast queue are tasks for
    # outcomes a coalesced step already took: dropped, so freshness starts from an empty
    # queue (a steady state), not behind a pile of no-op duplicates.
    res["online_duplicate_tasks_dropped"] = purge(stack, FAST)
    log.info("no-op Celery baselines: %d tasks", opts.noop_tasks)
    res.update(
        noop_task_baseline(stack.settings(), lambda: start_noop_worker(stack), opts.noop_tasks)
    )
    res.update(
        noop_task_baseline(
            stack.settings(),
            lambda: start_noop_worker(stack, defaults=True),
            opts.noop_default_tasks,
            defaults=True,
        )
    )

    freshness_runs(
        stack,
        run,
        rows["fresh"],
        share=opts.freshness_share,
        seconds=opts.freshness_seconds,
        meter=meter,
        profile=(opts.profile, worker.pid, out),
    )

    if opts.hourly_rows:
        res["hourly_batch_seeded"] = seed_batch_backlog(run, rows["hourly"])
        run.note(f"hourly batch: {res['hourly_batch_seeded']:,} outcomes copied in as trained "
                 "online (basins stored) and queued, beside those trained in this run")  # fmt: skip
    log.info("hourly batch")
    spy = maybe_profile(opts.profile, "hourly", worker.pid, out)
    meter.start()
    hourly_batch(run, timeout=300)
    record_cpu(res, "hourly", meter.stop(), res["hourly_batch_rows"])
    spy.stop()
    log.info("hourly %.0f rows/s", res["hourly_batch_rows_per_s"])

    routing(run, opts, source, meter, web.pid)
    memory(res, "end", web.pid, worker.pid)
    log.info("coordize speed and memory of each representation (PANTHEON_COORDIZER)")
    res.update(coordize_speeds())
    if not opts.skip_consolidation:
        consolidation(stack, run, opts, source)
    if opts.growth_big:
        log.info("cost versus table size: %d and %d outcomes", opts.growth_small, opts.growth_big)
        res.update(table_growth(opts.growth_small, opts.growth_big, out))


def routing(
    run: Run, opts: argparse.Namespace, source: list[dict[str, Any]], meter: CpuMeter, web: int
) -> None:
    log.info("routing")
    res = run.results
    spy = maybe_profile(opts.profile, "route", web, opts.out.resolve())
    meter.start()
    route(run, sorted({r["prompt"] for r in source})[:2000], opts.seconds)
    record_cpu(res, "route", meter.stop(), res["route_decisions"])
    spy.stop()
    log.info("route p50 %.1f ms p99 %.1f ms", res["route_p50_ms"], res["route_p99_ms"])
    meter.start()
    answered = route_fresh(run, opts.seconds)
    record_cpu(res, "route_fresh", meter.stop(), answered)
    log.info("fresh route p99 %.1f ms at 1 client, %.1f ms at 4",
             res["route_fresh_c1_p99_ms"], res["route_fresh_c4_p99_ms"])  # fmt: skip


def memory(res: dict[str, Any], when: str, web: int, worker: int) -> None:
    """Web and worker RSS (MB): with children (the figure), and the main process alone."""
    for name, pid in (("web", web), ("worker", worker)):
        tree, alone = steady_rss_mb(pid)
        res[f"{name}_rss_{when}_mb"] = tree
        res[f"{name}_main_rss_{when}_mb"] = alone


def warm_up(run: Run, rows: list[dict[str, Any]], source: list[dict[str, Any]]) -> None:
    """One batch, a few single outcomes and routes, trained by the worker: lazy imports
    and caches are loaded in both services before their start memory is read."""
    with httpx.Client(base_url=run.web_url, timeout=60) as client:
        batch = rows[:-10]
        client.post("/api/outcomes/batch", json={"outcomes": batch}).raise_for_status()
        for row in rows[-10:]:
            client.post("/api/outcomes", json=row).raise_for_status()
        for row in source[:50]:
            client.post("/api/route", json={"prompt": row["prompt"]}).raise_for_status()


def consolidation(stack: Stack, run: Run, opts: argparse.Namespace, source: list[Any]) -> None:
    sizes = [int(s) for s in str(opts.sizes).split(",") if s.strip()]
    base = base_arrays(source)
    log.info("consolidation (engine) at %s", sizes)
    engine = engine_scaling(base, sizes)
    run.series["consolidation_engine"] = engine
    run.results["consolidation_engine_exponent"] = engine["exponent"]
    for (low, high), slope in zip(
        pairwise(sizes), local_slopes(sizes, engine["seconds"]), strict=True
    ):
        run.results[f"consolidation_engine_slope_{low}_{high}"] = slope
    for size, seconds in zip(sizes, engine["seconds"], strict=True):
        run.results[f"consolidation_engine_{size}_s"] = seconds
    log.info("consolidation (service) at %s", sizes)
    try:
        service = service_scaling(
            stack.database_url.rsplit("/", 1)[0],
            lambda url: stack.run_cli("db", "upgrade", timeout=300, env={"DATABASE_URL": url}),
            base,
            stack.run_dir / "consolidation-data",
            sizes,
        )
    except Exception as exc:  # the figure is reported missing, the run goes on
        log.exception("service-level consolidation failed")
        run.note(f"service-level consolidation failed ({exc}); exponent from the engine")
        run.results["consolidation_exponent"] = engine["exponent"]
        return
    run.series["consolidation_service"] = service
    for (low, high), slope in zip(
        pairwise(sizes), local_slopes(sizes, service["seconds"]), strict=True
    ):
        run.results[f"consolidation_slope_{low}_{high}"] = slope
    run.results["consolidation_exponent"] = service["exponent"]
    run.results["consolidation_r_squared"] = service["r_squared"]
    for size, seconds, result in zip(sizes, service["seconds"], service["results"], strict=True):
        run.results[f"consolidation_{size}_s"] = seconds
        # How many outcomes the job actually trained on (the service caps the nightly set).
        run.results[f"consolidation_{size}_trained"] = result.get("outcomes")


def finish(
    run: Run, opts: argparse.Namespace, started: float, context: list[str]
) -> dict[str, Any]:
    res = dict(run.results)
    res["intake_batch_ratio_copy"] = ratio(res.get("intake_batch_per_s", math.nan),
                                           res.get("copy_per_s", math.nan))  # fmt: skip
    res["online_training_ratio_noop"] = ratio(res.get("online_trained_per_s", math.nan),
                                              res.get("noop_task_per_s", math.nan))  # fmt: skip
    res["online_training_ratio_noop_default"] = ratio(
        res.get("online_trained_per_s", math.nan), res.get("noop_task_default_per_s", math.nan)
    )
    res.update(rss_growth(res))
    res["bench_seconds"] = time.time() - started
    res["context"] = context
    res["notes"] = list(run.notes)
    return res


def write_outputs(out: Path, results: dict[str, Any], run: Run, context: list[str]) -> None:
    write_json(out / "results.json", results)
    (out / "results.md").write_text(markdown(results, run.notes, context), encoding="utf-8")
    try:
        plots(out, results, run.series)
    except Exception:  # plots are a view; the figures are already written
        log.exception("could not draw the plots")


def print_table(results: dict[str, Any], out: Path) -> None:
    rows = results_table(results)
    widths = [max(len(r[i]) for r in [TABLE_HEADER, *rows]) for i in range(len(TABLE_HEADER))]
    for row in [TABLE_HEADER, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    for note in results.get("notes") or []:
        print(f"note: {note}")
    missed = sum(1 for r in rows if r[-1].startswith("MISS"))
    print(f"\npipeline benchmark: {len(rows)} figures, {missed} missed; details in {out}")


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    return run_and_print(opts)


def run_and_print(opts: argparse.Namespace) -> int:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    results = run_pipeline(opts)
    print_table(results, opts.out.resolve())
    return 1 if results.get("stopped_early") else 0


if __name__ == "__main__":
    sys.exit(main())
