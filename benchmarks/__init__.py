"""Benchmarks and the reliability suite, run from the checkout's root as modules
(``python -m benchmarks.pipeline``, ``python -m benchmarks.reliability``); they drive real
processes through the harness in :mod:`pantheon.testing`."""

from pathlib import Path

#: The checkout's root: where results are written and the processes run.
ROOT = Path(__file__).resolve().parents[1]
