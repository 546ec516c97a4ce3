"""Celery worker, Beat and the dispatcher: the ten tasks as typed functions over the
training service, two backends (Celery, in-process), the schedule with its once-per-slot
rule, and the compatibility layer for the legacy system's message shapes."""
