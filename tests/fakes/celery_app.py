"""``celery -A tests.fakes.celery_app``: the real app and tasks over the fake service."""

from __future__ import annotations

import os

from pantheon.config import Settings
from pantheon.worker.celery_app import create_celery
from tests.fakes.service import FakeService

app = create_celery(
    Settings(), service_factory=lambda _settings: FakeService(os.environ["PANTHEON_TEST_FAKE_DB"])
)
