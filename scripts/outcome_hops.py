"""Which ``pantheon`` modules one outcome's online training runs through, web to kernel.

Counts the distinct ``pantheon.*`` modules whose Python code executes (a profile hook on
every thread records the module of each called function) while one outcome is posted and
trained, after a warm-up outcome has built every lazy collaborator. Three paths:

- ``sync``: ``POST /api/outcomes`` in ``PANTHEON_TASK_MODE=sync``; the task runs in-process.
- ``celery_web``: the same request in ``celery`` mode; the task is published (in-memory
  broker, so no worker picks it up) and the pending flag is set in Redis.
- ``celery_worker``: the worker's side of that task, run through Celery's own task
  tracer (``Task.apply``: signals, retry wrapper, task body) on the same database.

Usage: ``python scripts/outcome_hops.py [--json] [--redis-url URL]`` (needs Redis for the
pending flag; SQLite in a temporary directory holds the outcomes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import redis
from fastapi.testclient import TestClient

from pantheon.api.app import create_app
from pantheon.config import Settings
from pantheon.store.migrate import ensure_schema
from pantheon.worker import queues
from pantheon.worker.celery_app import create_celery


class ModuleRecorder:
    """Records the module of every Python function called while ``recording`` is on."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.recording = False

    def hook(self, frame: FrameType, event: str, _arg: object) -> None:
        if self.recording and event == "call":
            name = frame.f_globals.get("__name__", "")
            if isinstance(name, str) and (name == "pantheon" or name.startswith("pantheon.")):
                self.modules.add(name)

    def install(self) -> None:
        sys.setprofile(self.hook)
        threading.setprofile(self.hook)  # threads started from now on (the request pool)

    @contextmanager
    def window(self) -> Iterator[set[str]]:
        found: set[str] = set()
        self.modules = found
        self.recording = True
        try:
            yield found
        finally:
            self.recording = False


def _outcome(prompt: str) -> dict[str, Any]:
    return {"god_name": "zeus", "prompt": prompt, "response": "4", "success": True}


def _post(client: TestClient, prompt: str) -> dict[str, Any]:
    response = client.post("/api/outcomes", json=_outcome(prompt))
    if response.status_code != 202:
        raise SystemExit(f"POST /api/outcomes answered {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


def _measure(recorder: ModuleRecorder, step: Callable[[], Any]) -> list[str]:
    with recorder.window() as found:
        step()
    return sorted(found)


def measure(redis_url: str) -> dict[str, list[str]]:
    recorder = ModuleRecorder()
    recorder.install()
    out: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="pantheon-hops-") as tmp:
        base: dict[str, Any] = {"env": "test", "data_dir": Path(tmp) / "data"}
        sync = Settings(**base, task_mode="sync")
        ensure_schema(sync)
        with TestClient(create_app(sync)) as client:
            _post(client, "warm-up: what is 1 + 1?")
            out["sync"] = _measure(recorder, lambda: _post(client, "what is 2 + 2?"))

        celery = Settings(
            **base,
            task_mode="celery",
            redis_url=redis_url,
            celery_broker_url_raw="memory://",
            celery_result_backend_raw="cache+memory://",
        )
        flags = redis.Redis.from_url(redis_url)
        worker = create_celery(celery)
        task = worker.tasks[queues.TRAIN_FROM_OUTCOME]
        sent: dict[str, Any] = {}
        try:
            with TestClient(create_app(celery)) as client:
                flags.delete("pantheon:pending:zeus")
                warm = _post(client, "warm-up: what is 3 + 3?")
                task.apply(kwargs={"outcome_id": warm["outcome_id"]}, task_id=warm["task_id"])
                flags.delete("pantheon:pending:zeus")
                out["celery_web"] = _measure(
                    recorder, lambda: sent.update(_post(client, "what is 4 + 4?"))
                )
            out["celery_worker"] = _measure(
                recorder,
                lambda: task.apply(
                    kwargs={"outcome_id": sent["outcome_id"]},
                    task_id=sent.get("task_id") or str(uuid.uuid4()),
                ).get(),
            )
        finally:
            flags.delete("pantheon:pending:zeus")
            flags.close()
    sys.setprofile(None)
    threading.setprofile(None)  # type: ignore[arg-type]
    out["celery"] = sorted(set(out["celery_web"]) | set(out["celery_worker"]))
    out["all"] = sorted(set(out["sync"]) | set(out["celery"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the module lists as JSON")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args(argv)
    found = measure(args.redis_url)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for path, modules in found.items():
        print(f"{path}: {len(modules)} modules")
        for name in modules:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
