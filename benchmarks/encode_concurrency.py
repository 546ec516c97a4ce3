"""Fresh-prompt routes against a real ``pantheon up``, with and without the encode gate.

    python -m benchmarks.encode_concurrency --fresh ../shared/data/routellm \
        --n 240 --rounds 3 [--limits 0,default]

For each round, each ``PANTHEON_ENCODE_CONCURRENCY`` (``0`` = unbounded; ``default`` =
unset, the process's CPUs) and each client count (4, 16), a new web process starts on
its own embedded SQLite database and routes the same ``--n`` RouteLLM prompts, none of
which is in the shipped basins or (new process) in its basin cache, so every route runs
the encoder. The order of the limits alternates between rounds (the machine's load
drifts). Printed per run: the web's RSS after warm-up and after the fresh routes, its
peak (``VmHWM``), requests/s, p50/p99 and the web's CPU ms per request.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.route_latency import fresh_prompts, measure
from pantheon.demo.run import load_sample


def status_mb(pid: int, field: str) -> float:
    """A ``/proc/PID/status`` memory field (``VmRSS``, ``VmHWM``) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(limit: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.update(
        {"PANTHEON_DATA_DIR": str(data_dir), "PORT": str(port), "PANTHEON_LOG_LEVEL": "WARNING"}
    )
    env.pop("PANTHEON_ENCODE_CONCURRENCY", None)
    if limit != "default":
        env["PANTHEON_ENCODE_CONCURRENCY"] = limit
    cmd = [sys.executable, "-m", "pantheon", "up", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise RuntimeError(f"the web exited with {proc.returncode}")
        try:
            if httpx.get(base + "/api/health", timeout=5).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the web did not answer in time")


def one_run(limit: str, clients: int, fresh: list[str], known: list[str]) -> dict[str, object]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = _start(limit, Path(tmp), port)
        try:
            _wait_ready(base, proc)
            with httpx.Client(timeout=30) as client:  # warm-up: known prompts, no encoder
                for p in known[:30]:
                    client.post(base + "/api/route", json={"prompt": p}).raise_for_status()
            rss0 = status_mb(proc.pid, "VmRSS")
            row = measure(base + "/api/route", fresh, clients, 600.0, once=True, pid=proc.pid)
            return {
                "limit": limit,
                **row,
                "rss_warm_mb": round(rss0, 1),
                "rss_after_mb": round(status_mb(proc.pid, "VmRSS"), 1),
                "rss_peak_mb": round(status_mb(proc.pid, "VmHWM"), 1),
            }
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", type=Path, required=True, help="RouteLLM data directory")
    parser.add_argument("--n", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limits", default="0,default")
    parser.add_argument("--clients", default="4,16")
    args = parser.parse_args()
    known = sorted({r["prompt"] for r in load_sample()})
    fresh = fresh_prompts(args.fresh, set(known))[: args.n]
    limits = args.limits.split(",")
    for r in range(args.rounds):
        for clients in (int(c) for c in args.clients.split(",")):
            for limit in limits if r % 2 == 0 else limits[::-1]:
                row = one_run(limit, clients, fresh, known)
                print(json.dumps({"round": r, **row}), flush=True)


if __name__ == "__main__":
    main()
