"""Load generator of the pipeline benchmark, run in its own process.

    python -m benchmarks.pipeline_load SPEC.json

The spec (JSON) says what to send; the results go to ``spec["out"]`` as JSON. Two modes:
``closed`` (``concurrency`` clients, each sending the next body as soon as its previous
request answered) and ``open`` (a steady offered rate, one request every ``1/rate_per_s``
seconds whatever the answers do). Both stop by themselves: after ``duration_s``, after
``max_requests``, or when the bodies run out (unless ``cycle``). Loopback only.

With ``route_url`` each outcome is sent the way a chat app sends it: first ``POST
/api/route`` with its prompt, then the outcome of the chosen god carrying the answer's
``decision_id``. The record (and its latency) is the outcome's request only; the routes'
latencies and errors are kept apart (``route_latencies``, ``route_errors``).

Each record is ``[t_sent, t_done, status, outcome_id, accepted, latency_s]`` with wall-clock
times (``time.time()``, comparable with the database's timestamps on this machine).

The client is aiohttp, not httpx: on this two-core machine kind the load generator shares
the cores with the services it measures, and httpx's ``AsyncClient`` took 1.2–1.7 ms of
the generator's CPU per request against aiohttp's 0.2–0.3 ms (same no-op endpoint, four
connections; docs/CAPACITY.md, "The load generator took a core"). Each result says what the
generator spent (``client_cpu_s``), so a run shows how much of the machine it took.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from benchmarks.pipeline_rows import read_bodies

REPO_ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_IN_FLIGHT = 512


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise ValueError(f"the benchmark only sends load to loopback, not {host!r}")


#: What a request can fail with short of an HTTP answer.
CLIENT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


def _detail(status: int, raw: bytes) -> str:
    """An error answer as kept in the results: its status and the start of its body."""
    return f"HTTP {status}: {raw[:300].decode(errors='replace')}"


def _answer_fields(status: int, raw: bytes) -> tuple[int | None, int]:
    """(outcome_id, accepted) from an intake answer; (None, 0) for anything else."""
    if status >= 300:
        return None, 0
    try:
        body = json.loads(raw)
    except ValueError:
        return None, 0
    if not isinstance(body, dict):
        return None, 0
    outcome_id = body.get("outcome_id")
    accepted = body.get("accepted")
    if isinstance(accepted, int):
        return None, accepted + int(body.get("duplicates") or 0)
    return (outcome_id if isinstance(outcome_id, int) else None), 1


class Recorder:
    def __init__(self) -> None:
        self.records: list[list[Any]] = []
        self.errors: list[str] = []
        self.route_latencies: list[float] = []
        self.route_errors: list[str] = []
        #: Every route's answer by HTTP status ("error" for no answer): the error list
        #: above keeps only the first few.
        self.route_statuses: Counter[str] = Counter()

    async def route_first(self, client: aiohttp.ClientSession, url: str, body: bytes) -> bytes:
        """The outcome body linked to a fresh decision for its prompt (the chosen god's
        outcome); the body unchanged when the route fails (the error is kept)."""
        outcome = json.loads(body)
        start = time.perf_counter()
        route_body = json.dumps({"prompt": outcome["prompt"]}).encode()
        try:
            async with client.post(url, data=route_body) as response:
                code, raw = response.status, await response.read()
            answer = json.loads(raw) if code < 300 else None
        except (*CLIENT_ERRORS, ValueError) as exc:
            answer, detail, status = None, f"{type(exc).__name__}: {exc}", "error"
        else:
            detail = _detail(code, raw)
            status = str(code)
        self.route_latencies.append(time.perf_counter() - start)
        self.route_statuses[status] += 1
        if not isinstance(answer, dict) or "decision_id" not in answer:
            if len(self.route_errors) < 20:
                self.route_errors.append(detail)
            return body
        outcome["decision_id"] = answer["decision_id"]
        outcome["god_name"] = answer["god_name"]
        return json.dumps(outcome, separators=(",", ":")).encode()

    async def send(self, client: aiohttp.ClientSession, url: str, body: bytes, parse: bool) -> None:
        sent = time.time()
        start = time.perf_counter()
        try:
            async with client.post(url, data=body) as response:
                status, raw = response.status, await response.read()
        except CLIENT_ERRORS as exc:
            if len(self.errors) < 20:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.records.append([sent, time.time(), 0, None, 0, time.perf_counter() - start])
            return
        latency = time.perf_counter() - start
        outcome_id, accepted = _answer_fields(status, raw) if parse else (None, 0)
        if status >= 300 and len(self.errors) < 20:
            self.errors.append(_detail(status, raw))
        self.records.append([sent, time.time(), status, outcome_id, accepted, latency])


async def run_closed(spec: dict[str, Any], bodies: list[bytes], recorder: Recorder) -> None:
    deadline = time.perf_counter() + float(spec["duration_s"])
    limit = min(int(spec.get("max_requests") or 10**9), 10**9)
    cycle = bool(spec.get("cycle"))
    parse = bool(spec.get("parse", True))
    url = spec["url"]
    next_index = 0

    def take() -> bytes | None:
        nonlocal next_index
        if next_index >= limit or time.perf_counter() >= deadline:
            return None
        if next_index >= len(bodies) and not cycle:
            return None
        body = bodies[next_index % len(bodies)]
        next_index += 1
        return body

    async def client_loop(client: aiohttp.ClientSession) -> None:
        while (body := take()) is not None:
            await recorder.send(client, url, body, parse)

    concurrency = int(spec["concurrency"])
    async with _client(spec, concurrency) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))


async def run_open(spec: dict[str, Any], bodies: list[bytes], recorder: Recorder) -> None:
    rate_per_s = float(spec["rate_per_s"])
    count = min(int(float(spec["duration_s"]) * rate_per_s), len(bodies))
    if spec.get("max_requests"):
        count = min(count, int(spec["max_requests"]))
    parse = bool(spec.get("parse", True))
    url = spec["url"]
    route_url = spec.get("route_url")
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(body: bytes) -> None:
        try:
            if route_url:
                body = await recorder.route_first(client, route_url, body)
            await recorder.send(client, url, body, parse)
        finally:
            gate.release()

    async with _client(spec, MAX_IN_FLIGHT) as client:
        tasks = []
        origin = time.perf_counter()
        for i in range(count):
            delay = origin + i / rate_per_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()
            tasks.append(asyncio.create_task(one(bodies[i])))
        # ``drain_s``: how long requests still in flight after the last send may take; the
        # rest are cancelled and counted as errors (an overloaded service must not hang
        # the run).
        drain = spec.get("drain_s")
        _done, late = await asyncio.wait(tasks, timeout=float(drain) if drain else None)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
            recorder.errors.append(f"{len(late)} requests still in flight after {drain} s")


def _client(spec: dict[str, Any], connections: int) -> aiohttp.ClientSession:
    """A session keeping at most ``connections`` keep-alive connections; every body is JSON."""
    headers = {"content-type": "application/json"}
    if spec.get("token"):
        headers["authorization"] = f"Bearer {spec['token']}"
    return aiohttp.ClientSession(
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=float(spec.get("timeout_s", 60.0))),
        connector=aiohttp.TCPConnector(limit=connections),
    )


def run(spec: dict[str, Any]) -> dict[str, Any]:
    check_loopback(spec["url"])
    if spec.get("route_url"):
        check_loopback(spec["route_url"])
    bodies = read_bodies(Path(spec["bodies"]))
    start, stride = int(spec.get("start", 0)), int(spec.get("stride", 1))
    bodies = bodies[start::stride]
    start_at = float(spec.get("start_at", 0))
    if start_at > time.time():
        time.sleep(start_at - time.time())
    recorder = Recorder()
    began = time.time()
    cpu_before = time.process_time()
    runner = run_open if spec["mode"] == "open" else run_closed
    asyncio.run(runner(spec, bodies, recorder))
    return {
        "began": began,
        "ended": time.time(),
        "client_cpu_s": time.process_time() - cpu_before,
        "records": recorder.records,
        "errors": recorder.errors,
        "route_latencies": recorder.route_latencies,
        "route_errors": recorder.route_errors,
        "route_statuses": recorder.route_statuses,
    }


def launch(specs: list[dict[str, Any]], workdir: Path, timeout_s: float) -> list[dict[str, Any]]:
    """Run each spec in its own process at once; wait (bounded) and gather their results."""
    workdir.mkdir(parents=True, exist_ok=True)
    start_at = time.time() + 1.0  # every process starts sending at the same moment
    procs = []
    for n, given in enumerate(specs):
        check_loopback(given["url"])
        stem = f"load-{time.monotonic_ns()}-{n}"
        spec = {**given, "out": str(workdir / f"{stem}.out.json"), "start_at": start_at}
        spec_path = workdir / f"{stem}.spec.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        procs.append(
            (
                spec,
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.pipeline_load", str(spec_path)],
                    cwd=str(REPO_ROOT),
                ),
            )
        )
    results = []
    deadline = time.monotonic() + timeout_s + 1.0
    for spec, proc in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"load generator overran {timeout_s:.0f} s: {spec['url']}") from None
        if proc.returncode != 0:
            raise RuntimeError(f"load generator failed (exit {proc.returncode}): {spec['url']}")
        results.append(json.loads(Path(spec["out"]).read_text(encoding="utf-8")))
    return results


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One view of several processes' results: all records, the span they covered."""
    records = [r for result in results for r in result["records"]]
    statuses: Counter[str] = Counter()
    for result in results:
        statuses.update(result.get("route_statuses", {}))
    errors = [e for result in results for e in result["errors"]]
    sent = [r[0] for r in records]
    done = [r[1] for r in records]
    return {
        "records": records,
        "errors": errors[:20],
        "route_latencies": [x for result in results for x in result.get("route_latencies", [])],
        "route_errors": [e for result in results for e in result.get("route_errors", [])][:20],
        "route_statuses": dict(statuses),
        "client_cpu_s": sum(float(result.get("client_cpu_s", 0.0)) for result in results),
        "began": min(sent) if sent else math.nan,
        "ended": max(done) if done else math.nan,
    }


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = run(spec)
    Path(spec["out"]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
