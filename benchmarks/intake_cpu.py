"""The web framework's share of one ``POST /api/outcomes``, in-process, against the no-op
intake on the same body.

    python -m benchmarks.intake_cpu [--requests 7000] [--rounds 7]

Drives two ASGI applications directly (no server, no socket), alternating rounds: the
no-op intake of the pipeline benchmark (:mod:`benchmarks.pipeline_noop_web`), and the
product's application (:func:`pantheon.api.app.create_app`: its middleware, guard, body
validation, thread-pool hop and answer) with the two service calls of the intake route,
storing and dispatching, replaced by constant results. So the figures are the cost of
everything around the use case, which no database or broker can make cheaper; the
pipeline benchmark measures the whole request (``intake_single_*``). It prints the
process CPU microseconds per request of each (minimum and median over the rounds) and
their ratio.

CPU time on a shared machine moves by ±20 % between runs; for a change of a few percent
count instructions instead, which valgrind's callgrind gives within about 1 % every run:
``--only product --raw`` sends ``--requests`` requests and prints nothing, so the
difference between the totals of two runs with different ``--requests`` is the
instructions of that many requests (docs/CAPACITY.md, "Single intake: the framework's
share").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from starlette.types import ASGIApp, Message, Scope

import pantheon.api.routes.outcomes as intake_route
from benchmarks.pipeline_noop_web import app as noop_app
from benchmarks.pipeline_rows import load_sample, singles
from pantheon.api.app import create_app
from pantheon.api.deps import AppState
from pantheon.api.schemas import DispatchMode, OutcomeIn
from pantheon.config import Settings
from pantheon.training.intake import IngestResult

WARM_UP = 200


def product_app(work_dir: Path) -> ASGIApp:
    """The product's application with storing and dispatching replaced by constants."""
    settings = Settings(database_url=f"sqlite:///{work_dir}/intake_cpu.db", task_mode="sync")
    ids = iter(range(1, 2**62))

    def ingest(state: AppState, outcomes: list[OutcomeIn]) -> IngestResult:
        new = next(ids)
        return IngestResult(1, 0, [new], [new], {outcomes[0].god_name: [new]})

    def train(state: AppState, outcome_id: int, god: str) -> tuple[str | None, DispatchMode]:
        return f"task-{outcome_id}", "celery"

    intake_route._ingest = ingest
    intake_route._train = train
    return create_app(settings)


def scope_for(body: bytes) -> Scope:
    """A ``POST /api/outcomes`` of ``body`` as a server hands it to the application."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/outcomes",
        "raw_path": b"/api/outcomes",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def request(app: ASGIApp, scope: Scope, body: bytes) -> int:
    """One request through ``app``; its status."""
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(dict(scope), receive, send)
    return int(sent[0]["status"])


async def cpu_per_request(app: ASGIApp, body: bytes, n: int) -> float:
    """Process CPU microseconds per request over ``n`` requests (each must answer 202)."""
    scope = scope_for(body)
    start = time.process_time()
    for _ in range(n):
        status = await request(app, scope, body)
        if status != 202:
            raise RuntimeError(f"the intake answered {status}")
    return (time.process_time() - start) / n * 1e6


async def run(args: argparse.Namespace, work_dir: Path) -> None:
    body = singles([dict(load_sample()[0], outcome_key="intake-cpu", source_type="replay")])[0]
    apps: dict[str, ASGIApp] = {"noop": noop_app, "product": product_app(work_dir)}
    chosen = [args.only] if args.only else list(apps)
    for name in chosen:
        await cpu_per_request(apps[name], body, WARM_UP)
    if args.raw:
        await cpu_per_request(apps[chosen[0]], body, args.requests)
        return
    per_round = max(1, args.requests // args.rounds)
    figures: dict[str, list[float]] = {name: [] for name in chosen}
    for _ in range(args.rounds):
        for name in chosen:
            figures[name].append(await cpu_per_request(apps[name], body, per_round))
    for name, values in figures.items():
        print(f"{name:8s} CPU per request: min {min(values):7.1f} us, "
              f"median {statistics.median(values):7.1f} us")  # fmt: skip
    if len(figures) == 2:
        ratio = statistics.median(figures["product"]) / statistics.median(figures["noop"])
        print(f"product over no-op (medians): {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=7000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", choices=("noop", "product"), default=None)
    parser.add_argument("--raw", action="store_true", help="send, print nothing (callgrind)")
    args = parser.parse_args()
    if args.raw and not args.only:
        parser.error("--raw needs --only")
    with tempfile.TemporaryDirectory(prefix="intake-cpu-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
