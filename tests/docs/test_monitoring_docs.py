"""The operator's questions about Flower and Celery conventions are answered in the guide."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

GUIDE = (Path(__file__).resolve().parents[2] / "CELERY_TASKS_GUIDE.md").read_text()


@pytest.mark.parametrize(
    "needle",
    [
        "FLOWER_UNAUTHENTICATED_API",  # why Flower's API answers 401 without auth
        "--basic-auth=",
        "https://flower.readthedocs.io/en/latest/auth.html",
        "task events: ON",
        "celery -A pantheon worker",
        "https://docs.celeryq.dev/en/stable/getting-started/next-steps.html",
        "https://docs.celeryq.dev/en/stable/userguide/routing.html",
        "PRECONDITION_FAILED",  # the migration note for brokers with the old bindings
        "deploy/grafana/pantheon.json",
    ],
)
def test_the_celery_guide_covers_monitoring_and_conventions(needle: str) -> None:
    assert needle in GUIDE
