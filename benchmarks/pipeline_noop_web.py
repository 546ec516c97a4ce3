"""A no-op FastAPI intake: the baseline ``POST /api/outcomes`` is measured against.

Served by uvicorn with the same settings as ``pantheon serve`` (see
:func:`benchmarks.pipeline.serve_command`). It parses the JSON body, as the real route
does, and answers 202 without storing or dispatching anything.
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI

app = FastAPI(title="pipeline benchmark no-op intake")


@app.post("/api/outcomes", status_code=202)
async def accept(outcome: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    return {"outcome_id": 0, "task_id": None, "mode": "none", "duplicate": False}


@app.get("/api/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
