"""Worker CPU per row of the hourly batch's kernel work, without the database.

    .venv/bin/python -m benchmarks.hourly_kernels [--rows 20000] [--chunks 3] [--kind logistic]
    .venv/bin/python -m benchmarks.hourly_kernels --ab OTHER_SRC [--rounds 3]

One run does what ``train_hourly_batch`` does in the worker with each claimed chunk once
PostgreSQL returned its rows: check and decode them (``store.outcomes``), build the
:class:`Batch`, then for the god and its shadow the audit's ``p_spread``
and ``train_batch`` (3 epochs for the god, 1 for the shadow). It prints the CPU seconds
(``time.process_time``: the machine is shared, so not wall time) per row and a sha256 of
both kernels' final states, so two versions of the code can be compared for speed and for
learning the same numbers.

``--db`` measures instead ``train_hourly_batch("zeus")`` itself on PostgreSQL (a scratch
database, ``--rows`` × ``--chunks`` outcomes seeded as trained online, basins stored): the
worker process's CPU per row (PostgreSQL's own CPU is not in it) and wall-clock rows/s.

``--ab OTHER_SRC`` alternates rounds between ``OTHER_SRC/src`` (e.g. an older commit
unpacked with ``git archive``) and this checkout, each round in a fresh process, and prints
both series and their ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from types import SimpleNamespace

import numpy as np

import pantheon
from benchmarks.hourly_batch import _admin
from benchmarks.pipeline_phases import seed_batch_backlog
from pantheon.config import Settings
from pantheon.learning import timescales
from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import BASIN_DIM
from pantheon.learning.kernel import Kernel
from pantheon.store.basins import BASIN_DTYPE
from pantheon.store.db import Database
from pantheon.store.migrate import ensure_schema
from pantheon.store.outcomes import BATCH, _claimed
from pantheon.training._kernels import p_spread
from pantheon.training.encoding import current_version
from pantheon.training.service import TrainingService

HOURLY_EPOCHS, SHADOW_EPOCHS = 3, 1


def _chunk(rng: np.random.Generator, start: int, rows: int) -> list[tuple[object, ...]]:
    """Claimed rows as the driver returns them: (id, basin blob, reward, success, version)."""
    basins = rng.dirichlet(np.full(BASIN_DIM, 0.5), size=rows).astype(BASIN_DTYPE)
    successes = rng.random(rows) < 1 / (1 + np.exp(-8 * (basins[:, 0] - basins[:, 1])))
    rewards = np.where(successes, 1.0, -0.5) * rng.random(rows)
    version = current_version()
    return [
        (start + i, basins[i].tobytes(), float(rewards[i]), bool(successes[i]), version)
        for i in rng.permutation(rows)
    ]


def _digest(kernels: list[Kernel]) -> str:
    h = hashlib.sha256()
    for kernel in kernels:
        state = kernel.state_dict()
        for key in sorted(state["arrays"]):
            h.update(key.encode())
            h.update(np.ascontiguousarray(state["arrays"][key]).tobytes())
        h.update(json.dumps(state["meta"], sort_keys=True).encode())
    return h.hexdigest()[:16]


def run(rows: int, chunks: int, kind: str, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    data = [_chunk(rng, c * rows, rows) for c in range(chunks)]
    god, shadow = Kernel("zeus", seed, kind), Kernel("zeus_shadow", seed, kind)
    spreads: list[float | None] = []
    cpu = 0.0
    for claimed_rows in data:
        t0 = time.process_time()
        claimed = _claimed(None, claimed_rows, BATCH, None)  # type: ignore[arg-type]
        batch = Batch(claimed.basins, claimed.rewards, claimed.successes)
        for kernel, epochs in ((god, HOURLY_EPOCHS), (shadow, SHADOW_EPOCHS)):
            spreads.append(p_spread(kernel, batch))
            timescales.train_batch(kernel, batch, epochs=epochs)
        cpu += time.process_time() - t0
    return {
        "code": str(Path(pantheon.__file__).parents[1]),
        "cpu_us_per_row": 1e6 * cpu / (rows * chunks),
        "rows_per_cpu_s": rows * chunks / cpu,
        "state": _digest([god, shadow]),
        "spreads": spreads,
    }


def run_db(rows: int, server: str) -> dict[str, object]:
    name = f"pantheon_hourly_{uuid.uuid4().hex[:10]}"
    _admin(server, f'CREATE DATABASE "{name}"')
    try:
        with TemporaryDirectory() as tmp:
            url = f"{server}/{name}"
            settings = Settings(env="test", data_dir=Path(tmp), database_url_raw=url)
            ensure_schema(settings)
            db = Database(settings)
            service = TrainingService(settings, database=db)
            service.ensure_kernels()
            backlog = [
                {"god_name": "zeus", "prompt": f"p {i}", "response": "r", "success": i % 3 != 0}
                for i in range(rows)
            ]
            seed_batch_backlog(SimpleNamespace(database_url=url), backlog)  # type: ignore[arg-type]
            t0, w0 = time.process_time(), time.perf_counter()
            done = service.train_hourly_batch("zeus")["batch_size"]
            cpu, wall = time.process_time() - t0, time.perf_counter() - w0
            db.dispose()
    finally:
        _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert done == rows, done
    return {
        "code": str(Path(pantheon.__file__).parents[1]),
        "cpu_us_per_row": 1e6 * cpu / rows,
        "rows_per_s_wall": rows / wall,
        "state": "-",
        "spreads": [],
    }


def _round(src: str, argv: list[str]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.hourly_kernels", *argv],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def ab(other: str, rounds: int, argv: list[str]) -> None:
    here = str(Path(__file__).resolve().parents[1] / "src")
    series: dict[str, list[float]] = {"other": [], "this": []}
    walls: dict[str, list[float]] = {"other": [], "this": []}
    states: dict[str, set[str]] = {"other": set(), "this": set()}
    spreads: dict[str, set[str]] = {"other": set(), "this": set()}
    for _ in range(rounds):
        for label, src in (("other", str(Path(other) / "src")), ("this", here)):
            r = _round(src, argv)
            series[label].append(float(r["cpu_us_per_row"]))  # type: ignore[arg-type]
            states[label].add(str(r["state"]))
            spreads[label].add(json.dumps(r["spreads"]))
            if "rows_per_s_wall" in r:
                walls[label].append(float(r["rows_per_s_wall"]))  # type: ignore[arg-type]
            print(f"{label:5s} {r['code']}: {r['cpu_us_per_row']:.2f} µs/row, state {r['state']}")
    for label, xs in series.items():
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        mean = statistics.mean(xs)
        print(f"{label}: {mean:.2f} ± {sd:.2f} µs/row ({1e6 / mean:,.0f} rows per CPU-s)")
        if len(walls[label]) > 1:
            w_mean, w_sd = statistics.mean(walls[label]), statistics.stdev(walls[label])
            print(f"{label}: {w_mean:,.0f} ± {w_sd:,.0f} rows/s wall-clock")
    ratio = statistics.mean(series["other"]) / statistics.mean(series["this"])
    print(f"CPU per row, other / this: {ratio:.2f}")
    if "-" not in states["this"]:  # the --db rounds do not digest their kernels
        same = states["other"] == states["this"] and len(states["this"]) == 1
        print(f"same kernel states: {same}; same p_spread: {spreads['other'] == spreads['this']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--chunks", type=int, default=3)
    parser.add_argument("--kind", default="logistic")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ab", default=None, help="another checkout to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", action="store_true", help="train_hourly_batch on PostgreSQL")
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    argv = ["--rows", str(args.rows), "--chunks", str(args.chunks), "--kind", args.kind]
    argv += ["--seed", str(args.seed), "--server", args.server] + (["--db"] if args.db else [])
    if args.ab:
        ab(args.ab, args.rounds, argv)
    elif args.db:
        print(json.dumps(run_db(args.rows * args.chunks, args.server)))
    else:
        print(json.dumps(run(args.rows, args.chunks, args.kind, args.seed)))


if __name__ == "__main__":
    main()
