"""``POST /api/route`` latency against a running web service, at 1 and 4 clients.

    python -m benchmarks.route_latency --url http://127.0.0.1:8000 --seconds 20 \
        [--fresh ../shared/data/routellm] [--pid WEB_PID]

Each client sends routes back to back (closed loop) for ``--seconds``; prints requests/s,
p50 and p99 per concurrency as JSON. Two prompt sets:

- ``known``: the bundled sample's prompts. Their basins ship precomputed
  (``known_basins.npz``) and the web's basin cache keeps them, so these routes never run
  the encoder: the route path alone.
- ``fresh`` (with ``--fresh DIR``, RouteLLM MMLU and GSM8K files): prompts outside the
  sample, shuffled, each sent once (a repeat would come from the basin cache), so every
  route encodes its prompt: what a chat product's new prompts cost.

With ``--pid`` (the web process) it also prints the web's CPU time per request
(user + system, all its threads, from ``/proc``): a figure the machine's other load
changes much less than wall-clock latency. Used to compare the route before and after a
change on the same machine; ``make bench`` reports the known-prompt figures from its own
stack.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from pantheon.bench.routing_data import load_all
from pantheon.demo.run import load_sample


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process (every thread), in seconds; 0 without a pid."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client(
    url: str, prompts: list[str], once: bool, until: float, out: list[float], errors: list[int]
) -> None:
    with httpx.Client(timeout=30) as client:
        i = 0
        while time.monotonic() < until and not (once and i >= len(prompts)):
            body = {"prompt": prompts[i % len(prompts)]}
            i += 1
            started = time.perf_counter()
            answer = client.post(url, json=body)
            elapsed = time.perf_counter() - started
            if answer.status_code == 200:
                out.append(elapsed * 1000.0)
            else:
                errors.append(answer.status_code)


def measure(
    url: str,
    prompts: list[str],
    clients: int,
    seconds: float,
    *,
    once: bool = False,
    pid: int | None = None,
) -> dict[str, float]:
    """Closed-loop routes; ``once``: each prompt at most once (no repeat, no cache hit)."""
    lat: list[float] = []
    errors: list[int] = []
    cpu_before = cpu_seconds(pid)
    started = time.monotonic()
    until = started + seconds
    threads = [
        threading.Thread(target=_client, args=(url, prompts[k::clients], once, until, lat, errors))
        for k in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu_before
    arr = np.array(lat)
    row = {
        "clients": clients,
        "requests": int(arr.size),
        "per_s": round(arr.size / elapsed, 1),
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "errors": len(errors),
    }
    if pid is not None and arr.size:
        row["web_cpu_ms_per_request"] = round(1000 * cpu / (arr.size + len(errors)), 3)
    return row


def fresh_prompts(data: Path, known: set[str], seed: int = 0) -> list[str]:
    """RouteLLM prompts outside the sample (so outside the shipped basins), shuffled."""
    prompts = sorted({p for d in load_all(data).values() for p in d.prompts} - known)
    random.Random(seed).shuffle(prompts)
    return prompts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fresh", type=Path, default=None, help="RouteLLM data directory")
    parser.add_argument("--pid", type=int, default=None, help="the web process, for its CPU")
    args = parser.parse_args()
    sample = sorted({r["prompt"] for r in load_sample()})
    prompts = sample[:2000]
    url = args.url.rstrip("/") + "/api/route"
    with httpx.Client(timeout=30) as client:  # warm-up: kernels read, code paths loaded
        for p in prompts[:50]:
            client.post(url, json={"prompt": p}).raise_for_status()
    rows = [
        {"prompts": "known", **measure(url, prompts, c, args.seconds, pid=args.pid)} for c in (1, 4)
    ]
    if args.fresh is not None:
        fresh = fresh_prompts(args.fresh, set(sample))
        half = len(fresh) // 2  # each concurrency gets prompts the server never saw
        for c, part in ((1, fresh[:half]), (4, fresh[half:])):
            row = measure(url, part, c, args.seconds, once=True, pid=args.pid)
            rows.append({"prompts": "fresh", **row})
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
