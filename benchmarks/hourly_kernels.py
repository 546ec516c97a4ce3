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
from pathlib import Path

import numpy as np

import pantheon
from pantheon.learning import timescales
from pantheon.learning.batch import Batch
from pantheon.learning.coordizer import BASIN_DIM
from pantheon.learning.kernel import Kernel
from pantheon.store.outcomes import BATCH, _claimed
from pantheon.store.types import BASIN_DTYPE
from pantheon.training._audit import p_spread
from pantheon.training.basins import current_version

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


def _round(src: str, argv: list[str]) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.hourly_kernels", *argv],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def ab(other: str, rounds: int, argv: list[str]) -> None:
    here = str(Path(__file__).resolve().parents[1] / "src")
    series: dict[str, list[float]] = {"other": [], "this": []}
    states: dict[str, set[str]] = {"other": set(), "this": set()}
    spreads: dict[str, set[str]] = {"other": set(), "this": set()}
    for _ in range(rounds):
        for label, src in (("other", str(Path(other) / "src")), ("this", here)):
            r = _round(src, argv)
            series[label].append(float(r["cpu_us_per_row"]))  # type: ignore[arg-type]
            states[label].add(str(r["state"]))
            spreads[label].add(json.dumps(r["spreads"]))
            print(f"{label:5s} {r['code']}: {r['cpu_us_per_row']:.2f} µs/row, state {r['state']}")
    for label, xs in series.items():
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        mean = statistics.mean(xs)
        print(f"{label}: {mean:.2f} ± {sd:.2f} µs/row ({1e6 / mean:,.0f} rows per CPU-s)")
    ratio = statistics.mean(series["other"]) / statistics.mean(series["this"])
    print(f"CPU per row, other / this: {ratio:.2f}")
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
    args = parser.parse_args()
    argv = ["--rows", str(args.rows), "--chunks", str(args.chunks), "--kind", args.kind]
    argv += ["--seed", str(args.seed)]
    if args.ab:
        ab(args.ab, args.rounds, argv)
    else:
        print(json.dumps(run(args.rows, args.chunks, args.kind, args.seed)))


if __name__ == "__main__":
    main()
