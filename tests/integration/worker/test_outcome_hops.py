"""The modules one outcome's online training runs through stay as documented
(``docs/ARCHITECTURE.md``, "One outcome, web to kernel"): a new hop shows up here."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "outcome_hops.py"
#: The documented "after" figures: a ceiling (a merge that removes a hop passes, one
#: that adds a hop must say so in the docs and here).
DOCUMENTED = {"sync": 28, "celery_web": 15, "celery_worker": 20, "celery": 30}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("outcome_hops", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_outcome_touches_no_more_modules_than_documented(redis_url: str) -> None:
    found = _script().measure(redis_url)
    counts = {path: len(found[path]) for path in DOCUMENTED}
    assert all(counts[p] <= DOCUMENTED[p] for p in DOCUMENTED), (counts, found)
    # The god rides from intake to the task: nothing on the path looks it up again, and a
    # message in the task's own shape never goes through the legacy compatibility layer.
    assert "pantheon.worker.legacy" not in found["all"]
    assert "pantheon.training.online" in found["celery_worker"]
    assert "pantheon.training.online" not in found["celery_web"]
    # The deprecated cron route's headers come from its own route class: no other request
    # runs its code (it was an app-wide middleware).
    assert "pantheon.api.routes.cron" not in found["all"]
