"""The process harness shared by the test suite and the benchmarks.

:class:`Stack` starts the product's real processes (web, worker, Beat, any ``pantheon``
command) on private or given services under one run directory and stops them; a
:class:`Proc` is one such process (signals, pool children, memory, its log); the small
helpers poll with a bound (:func:`wait_until`), find a free port, and read /proc;
:class:`Switchable` and :func:`pipe` forward TCP for fault injection. Nothing in the
product imports this package: it exists so that ``tests/`` and ``benchmarks/`` drive
processes one way (as ``celery.contrib.testing`` serves Celery's users).
"""

from pantheon.testing.procs import (
    LOOPBACK,
    Proc,
    StackError,
    descendants,
    free_port,
    port_open,
    rss_bytes,
    wait_until,
)
from pantheon.testing.proxy import Switchable, pipe
from pantheon.testing.services import PostgresCluster, RabbitVhost, RedisServer
from pantheon.testing.stack import OWN_VARIABLES, VENV_BIN, Stack, clean_environ

__all__ = [
    "LOOPBACK",
    "OWN_VARIABLES",
    "VENV_BIN",
    "PostgresCluster",
    "Proc",
    "RabbitVhost",
    "RedisServer",
    "Stack",
    "StackError",
    "Switchable",
    "clean_environ",
    "descendants",
    "free_port",
    "pipe",
    "port_open",
    "rss_bytes",
    "wait_until",
]
