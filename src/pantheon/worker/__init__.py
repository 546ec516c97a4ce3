"""Celery worker, Beat and the dispatcher: the nine seed tasks (plus the outbox sweep) as
thin wrappers over the training service, the schedule with its once-per-slot rule, and the
in-process fallback used when no worker is there."""
