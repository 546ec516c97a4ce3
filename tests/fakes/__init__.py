"""Test doubles shared by every tier (unit, integration, end-to-end), so that no tier
imports another's modules: the training service and slot ledger over one SQLite file
(:mod:`tests.fakes.service`), the real Celery app over that service
(``celery -A tests.fakes.celery_app``), and a counting coordizer (:mod:`tests.fakes.coordizer`).
"""
