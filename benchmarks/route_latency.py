"""``POST /api/route`` latency against a running web service, at 1 and 4 clients.

    python -m benchmarks.route_latency --url http://127.0.0.1:8000 --seconds 20

Each client sends routes back to back (closed loop) over the bundled sample's prompts for
``--seconds``; prints requests/s, p50 and p99 per concurrency as JSON. Used to compare the
route before and after a change on the same machine; ``make bench`` reports the same
figures from its own stack.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import httpx
import numpy as np

from pantheon.demo.run import load_sample


def _client(
    url: str, prompts: list[str], until: float, out: list[float], errors: list[int]
) -> None:
    with httpx.Client(timeout=30) as client:
        i = 0
        while time.monotonic() < until:
            body = {"prompt": prompts[i % len(prompts)]}
            i += 1
            started = time.perf_counter()
            answer = client.post(url, json=body)
            elapsed = time.perf_counter() - started
            if answer.status_code == 200:
                out.append(elapsed * 1000.0)
            else:
                errors.append(answer.status_code)


def measure(url: str, prompts: list[str], clients: int, seconds: float) -> dict[str, float]:
    lat: list[float] = []
    errors: list[int] = []
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_client, args=(url, prompts[k::clients], until, lat, errors))
        for k in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    arr = np.array(lat)
    return {
        "clients": clients,
        "requests": int(arr.size),
        "per_s": round(arr.size / seconds, 1),
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "errors": len(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    prompts = sorted({r["prompt"] for r in load_sample()})[:2000]
    url = args.url.rstrip("/") + "/api/route"
    with httpx.Client(timeout=30) as client:  # warm-up: kernels read, code paths loaded
        for p in prompts[:50]:
            client.post(url, json={"prompt": p}).raise_for_status()
    rows = [measure(url, prompts, c, args.seconds) for c in (1, 4)]
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
