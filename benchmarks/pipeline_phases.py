"""The measurements of the pipeline benchmark, one function per figure.

Each takes the running :class:`Run` (the stack, its URLs, the rows, a results dict) and
adds its figures to ``run.results``; raw series for the plots go to ``run.series``.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

from benchmarks.pipeline_baselines import libpq_url
from benchmarks.pipeline_load import launch, merge
from benchmarks.pipeline_rows import batches, singles, write_bodies
from benchmarks.pipeline_stats import latency_summary, percentile, rate, throughput_from_timestamps
from pantheon.clock import utcnow
from pantheon.learning.coordizer import COORDIZER_VERSION
from pantheon.learning.coordizer_kind import CoordizerKind
from pantheon.learning.curriculum import bundled_prompts
from pantheon.learning.reward import compute_reward
from pantheon.store.basins import encode_basins

log = logging.getLogger(__name__)


@dataclass
class Run:
    """What every phase needs: where things are, the rows, and what was measured."""

    web_url: str
    database_url: str
    work_dir: Path
    results: dict[str, Any] = field(default_factory=dict)
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        log.info("%s", text)
        self.notes.append(text)


# --- database reads ----------------------------------------------------------------------


def sql_scalar(run: Run, query: str, params: Sequence[Any] = ()) -> Any:
    with psycopg.connect(libpq_url(run.database_url)) as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def sql_column(run: Run, query: str, params: Sequence[Any] = ()) -> list[Any]:
    with psycopg.connect(libpq_url(run.database_url)) as conn:
        return [row[0] for row in conn.execute(query, params).fetchall()]


def count_outcomes(run: Run) -> int:
    return int(sql_scalar(run, "SELECT count(*) FROM outcomes"))


def pending_online(run: Run) -> int:
    return int(sql_scalar(run, "SELECT count(*) FROM outcomes WHERE trained_online_at IS NULL"))


# --- intake --------------------------------------------------------------------------------


def intake_batch(run: Run, rows: Sequence[dict[str, Any]], clients: int, per_request: int) -> None:
    """Outcomes/s through ``POST /api/outcomes/batch`` from ``clients`` processes."""
    path = write_bodies(run.work_dir / "bodies-batch.jsonl", batches(rows, per_request))
    specs = [
        {
            "mode": "closed",
            "url": run.web_url + "/api/outcomes/batch",
            "bodies": str(path),
            "start": i,
            "stride": clients,
            "concurrency": 1,
            "duration_s": 300,
        }
        for i in range(clients)
    ]
    merged = merge(launch(specs, run.work_dir, timeout_s=330))
    ok = [r for r in merged["records"] if 200 <= r[2] < 300]
    accepted = sum(r[4] for r in ok)
    seconds = merged["ended"] - merged["began"]
    run.results.update(
        intake_batch_per_s=rate(accepted, seconds),
        intake_batch_outcomes=accepted,
        intake_batch_seconds=seconds,
        intake_batch_clients=clients,
        intake_batch_request_p50_ms=percentile([r[5] for r in ok], 50) * 1000,
        intake_batch_request_p99_ms=percentile([r[5] for r in ok], 99) * 1000,
        intake_batch_errors=len(merged["records"]) - len(ok),
    )
    if merged["errors"]:
        run.note(f"intake batch errors: {merged['errors'][:3]}")
    if accepted < len(rows):
        run.note(f"intake batch accepted {accepted} of {len(rows)} outcomes")


def closed_loop(
    run: Run, url: str, bodies_path: Path, concurrency: int, seconds: float, cycle: bool = False
) -> dict[str, Any]:
    """One closed-loop run at ``concurrency`` (two processes above 4 clients)."""
    procs = 1 if concurrency <= 4 else 2
    specs = [
        {
            "mode": "closed",
            "url": url,
            "bodies": str(bodies_path),
            "start": i,
            "stride": procs,
            "concurrency": concurrency // procs,
            "duration_s": seconds,
            "cycle": cycle,
        }
        for i in range(procs)
    ]
    return merge(launch(specs, run.work_dir, timeout_s=seconds + 60))


def latencies_of(merged: dict[str, Any]) -> tuple[list[float], int]:
    ok = [r[5] for r in merged["records"] if 200 <= r[2] < 300]
    return ok, len(merged["records"]) - len(ok)


def client_cpu_ms(merged: dict[str, Any]) -> float:
    """The load generator's own CPU per request sent (ms): what it took from the machine."""
    return 1000 * float(merged["client_cpu_s"]) / max(1, len(merged["records"]))


def sessions_opened(run: Run) -> int:
    """PostgreSQL sessions ever opened on the run's database (``pg_stat_database``)."""
    query = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
    return int(sql_scalar(run, query))


def intake_single(
    run: Run,
    rows: Sequence[dict[str, Any]],
    concurrencies: Sequence[int],
    seconds: float,
    noop_url: str | None,
) -> None:
    """``POST /api/outcomes`` at each concurrency, then the no-op endpoint on the same bodies."""
    per_level = len(rows) // len(concurrencies)
    best, best_noop = 0.0, 0.0
    table = []
    for n, concurrency in enumerate(concurrencies):
        chunk = rows[n * per_level : (n + 1) * per_level]
        path = write_bodies(run.work_dir / f"bodies-single-{concurrency}.jsonl", singles(chunk))
        opened = sessions_opened(run)
        real = closed_loop(run, run.web_url + "/api/outcomes", path, concurrency, seconds)
        # Connections opened under load (the counter's own query is one of them): a pool
        # that closes what it opened beyond its size shows here as one per request.
        run.results[f"intake_single_c{concurrency}_pg_sessions"] = sessions_opened(run) - opened
        lat, errors = latencies_of(real)
        stats = latency_summary(lat, real["ended"] - real["began"])
        entry: dict[str, Any] = {
            "concurrency": concurrency,
            "errors": errors,
            "client_cpu_ms": client_cpu_ms(real),
            **stats,
        }
        if real["errors"]:
            run.note(f"intake single c={concurrency} errors: {real['errors'][:3]}")
        if noop_url:
            noop = closed_loop(run, noop_url + "/api/outcomes", path, concurrency, seconds)
            noop_lat, _ = latencies_of(noop)
            noop_stats = latency_summary(noop_lat, noop["ended"] - noop["began"])
            entry.update({f"noop_{k}": v for k, v in noop_stats.items()})
            entry["noop_client_cpu_ms"] = client_cpu_ms(noop)
            best_noop = max(best_noop, noop_stats["per_s"])
        best = max(best, stats["per_s"])
        table.append(entry)
        run.results[f"intake_single_c{concurrency}_per_s"] = stats["per_s"]
        run.results[f"intake_single_c{concurrency}_p50_ms"] = stats["p50_ms"]
        run.results[f"intake_single_c{concurrency}_p99_ms"] = stats["p99_ms"]
        run.results[f"intake_single_c{concurrency}_client_cpu_ms"] = entry["client_cpu_ms"]
        if noop_url:
            run.results[f"noop_web_c{concurrency}_per_s"] = entry["noop_per_s"]
            run.results[f"noop_web_c{concurrency}_p99_ms"] = entry["noop_p99_ms"]
    run.series["intake_single"] = table
    run.results.update(
        intake_single_per_s=best,
        noop_web_per_s=best_noop if noop_url else math.nan,
        intake_single_ratio_noop=best / best_noop if best_noop else math.nan,
    )


# --- online training -----------------------------------------------------------------------


def online_drain(run: Run, resume: Callable[[], None], timeout: float) -> None:
    """Outcomes/s trained online from the backlog, from ``trained_online_at`` stamps.

    ``resume()`` lets the worker consume again; the backlog is counted just before.
    """
    backlog = pending_online(run)
    started = time.time()
    resume()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (left := pending_online(run)) > 0:
        time.sleep(1.0)
    left = pending_online(run)
    stamps = sql_column(
        run,
        "SELECT extract(epoch FROM trained_online_at)::float8 FROM outcomes "
        "WHERE trained_online_at >= to_timestamp(%s) ORDER BY 1",
        (started - 5.0,),
    )
    # The shape of the drain: how long until each share of the backlog was trained.
    for share in (50, 90, 99):
        at = stamps[min(len(stamps) - 1, len(stamps) * share // 100)] if stamps else math.nan
        run.results[f"online_{share}pct_s"] = at - stamps[0] if stamps else math.nan
    run.results.update(
        online_backlog=backlog,
        online_trained=len(stamps),
        online_left=left,
        online_trained_per_s=throughput_from_timestamps(stamps),
        online_drain_seconds=(stamps[-1] - stamps[0]) if len(stamps) > 1 else math.nan,
    )
    if left:
        run.note(f"online drain stopped after {timeout:.0f} s with {left} outcomes untrained")
    run.series["online_stamps"] = stamps


def set_aside_backlog(run: Run) -> int:
    """Delete the outcomes still untrained online (and their batch-queue rows); returns
    how many. Used when the drain window ended with a backlog left: the phases after it
    (freshness, hourly batch) then start from a steady state, and the count is reported."""
    with psycopg.connect(libpq_url(run.database_url)) as conn:
        conn.execute(
            "DELETE FROM outcome_batch_queue WHERE outcome_id IN "
            "(SELECT id FROM outcomes WHERE trained_online_at IS NULL)"
        )
        gone = conn.execute("DELETE FROM outcomes WHERE trained_online_at IS NULL").rowcount
    return int(gone or 0)


# --- freshness ------------------------------------------------------------------------------


def seed_batch_backlog(run: Run, rows: Sequence[dict[str, Any]]) -> int:
    """COPY ``rows`` in as outcomes trained online and waiting for the hourly batch (basins
    of the running coordizer, batch-queue rows); returns how many.

    The steady state the hourly batch meets: online training computed and stored each
    basin first. The worker encodes every prompt it trains, so training this many rows
    online within a benchmark is out of reach; the basins here are valid points of the
    simplex (not the prompts' own), which the batch's cost does not depend on.
    """
    blobs = encode_basins(np.random.default_rng(0).dirichlet(np.ones(64), size=256))
    now = utcnow()
    columns = (
        "god_name, prompt, response, success, score, basin, coordizer_version, reward, "
        "source_type, source_id, created_at, trained_online_at"
    )
    kinds = ["text", "text", "text", "bool", "float8", "bytea", "text", "float8", "text", "text"]
    kinds += ["timestamptz", "timestamptz"]
    with psycopg.connect(libpq_url(run.database_url)) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY outcomes ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(kinds)
            for n, row in enumerate(rows):
                reward = compute_reward(bool(row["success"]), score=row.get("score"))
                copy.write_row(
                    (row["god_name"], row["prompt"], row["response"], bool(row["success"]),
                     row.get("score"), blobs[n % len(blobs)], COORDIZER_VERSION, reward,
                     "replay", "bench-hourly", now, now)
                )  # fmt: skip
        conn.execute(
            "INSERT INTO outcome_batch_queue (outcome_id, god_name) SELECT id, god_name "
            "FROM outcomes WHERE source_id = 'bench-hourly' AND batch_processed_at IS NULL "
            "ON CONFLICT DO NOTHING"
        )
        conn.execute("ANALYZE outcomes")
        conn.execute("ANALYZE outcome_batch_queue")
    return len(rows)


# --- hourly batch and routing --------------------------------------------------------------


def hourly_batch(run: Run, timeout: float) -> None:
    """Rows/s of ``train_hourly_batch_all`` dispatched through the API to the worker."""
    pending = int(sql_scalar(run, "SELECT count(*) FROM outcomes WHERE batch_processed_at IS NULL"))
    with httpx.Client(base_url=run.web_url, timeout=30) as client:
        started = time.perf_counter()
        answer = client.post("/api/training/hourly")
        answer.raise_for_status()
        task_id = answer.json().get("task_id")
        status: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while task_id and time.monotonic() < deadline:
            status = client.get(f"/api/tasks/{task_id}").json()
            if status.get("ready"):
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
    processed = pending - int(
        sql_scalar(run, "SELECT count(*) FROM outcomes WHERE batch_processed_at IS NULL")
    )
    span = sql_scalar(
        run,
        "SELECT extract(epoch FROM max(batch_processed_at) - min(batch_processed_at))::float8 "
        "FROM outcomes WHERE batch_processed_at IS NOT NULL",
    )
    run.results.update(
        hourly_batch_pending=pending,
        hourly_batch_rows=processed,
        hourly_batch_seconds=elapsed,
        hourly_batch_rows_per_s=rate(processed, elapsed),
        hourly_batch_state=status.get("state"),
        hourly_batch_mark_span_s=span,
    )
    if not status.get("ready"):
        run.note(f"hourly batch not finished after {timeout:.0f} s (state {status.get('state')})")
    result = status.get("result")
    if isinstance(result, dict):
        run.results["hourly_batch_status"] = result.get("status")
        if result.get("status") != "success":
            run.note(f"hourly batch answered {json.dumps(result)[:600]}")


def route(run: Run, prompts: Sequence[str], seconds: float) -> None:
    """``POST /api/route`` latency at one client and throughput at four; every answered
    route records its decision (one INSERT, committed before the answer), which
    ``route_decisions`` counts."""
    bodies = [json.dumps({"prompt": p}).encode() for p in prompts]
    path = write_bodies(run.work_dir / "bodies-route.jsonl", bodies)
    url = run.web_url + "/api/route"
    decisions_before = int(sql_scalar(run, "SELECT count(*) FROM decisions"))
    for concurrency in (1, 4):
        merged = closed_loop(run, url, path, concurrency, seconds, cycle=True)
        lat, errors = latencies_of(merged)
        stats = latency_summary(lat, merged["ended"] - merged["began"])
        run.results[f"route_c{concurrency}_per_s"] = stats["per_s"]
        run.results[f"route_c{concurrency}_p50_ms"] = stats["p50_ms"]
        run.results[f"route_c{concurrency}_p99_ms"] = stats["p99_ms"]
        run.results[f"route_c{concurrency}_errors"] = errors
        run.results[f"route_c{concurrency}_client_cpu_ms"] = client_cpu_ms(merged)
        if concurrency == 1:
            run.series["route_latencies_ms"] = [x * 1000 for x in lat]
        if merged["errors"]:
            run.note(f"route c={concurrency} errors: {merged['errors'][:3]}")
    run.results.update(
        route_p50_ms=run.results["route_c1_p50_ms"],
        route_p99_ms=run.results["route_c1_p99_ms"],
        route_per_s=run.results["route_c4_per_s"],
        route_decisions=int(sql_scalar(run, "SELECT count(*) FROM decisions")) - decisions_before,
    )


def fresh_chat_prompts(n: int) -> list[str]:
    """``n`` distinct short chat-like prompts that no process holds a basin for: the
    bundled curriculum's requests (about 60 characters; their own basins ship, these do
    not), each with a serial, so every route has to encode its prompt."""
    texts = [p for ps in bundled_prompts().values() for p in ps]
    return [f"{texts[i % len(texts)]} (request {i})" for i in range(n)]


def route_fresh(run: Run, seconds: float, per_level: int = 20_000) -> int:
    """``POST /api/route`` with prompts the web has never seen, at one and four clients:
    what a chat product's routes cost, since nearly every chat prompt is new
    (``route_fresh_c<n>_*``). Each level gets its own prompts, each sent once. Returns
    the number of routes answered."""
    prompts = fresh_chat_prompts(2 * per_level)
    url = run.web_url + "/api/route"
    answered = 0
    for concurrency, part in ((1, prompts[:per_level]), (4, prompts[per_level:])):
        bodies = [json.dumps({"prompt": p}).encode() for p in part]
        path = write_bodies(run.work_dir / f"bodies-route-fresh-{concurrency}.jsonl", bodies)
        merged = closed_loop(run, url, path, concurrency, seconds)
        lat, errors = latencies_of(merged)
        stats = latency_summary(lat, merged["ended"] - merged["began"])
        for key in ("per_s", "p50_ms", "p99_ms"):
            run.results[f"route_fresh_c{concurrency}_{key}"] = stats[key]
        run.results[f"route_fresh_c{concurrency}_errors"] = errors
        answered += len(lat)
        if merged["errors"]:
            run.note(f"fresh route c={concurrency} errors: {merged['errors'][:3]}")
    return answered


def coordize_speeds(prompts: int = 64) -> dict[str, float]:
    """``pantheon.bench.coordize_speed`` for every ``CoordizerKind``, each in a fresh process
    (its RSS then counts only what that representation loads): ``coordize_<kind>_…``."""
    out: dict[str, float] = {}
    for kind in CoordizerKind:
        argv = [sys.executable, "-m", "pantheon.bench.coordize_speed", "--kind", kind]
        done = subprocess.run(
            [*argv, "--prompts", str(prompts), "--json"],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        for key, value in json.loads(done.stdout).items():
            name = key.replace("encoder_rss_mb", "coordize_rss_mb")
            out[name.replace("coordize_", f"coordize_{kind}_", 1)] = float(value)
    return out
