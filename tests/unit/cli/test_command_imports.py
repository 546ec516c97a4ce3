"""Building the parser, ``pantheon --help`` and ``pantheon <command> --help`` import no
run module: the web app, Celery, the ORM, the plots and the encoder runtime load only when
the chosen command runs, through the ``module:function`` runner its arguments name.

Every run module imports only what requirements.lock (the runtime dependencies) holds.
Each probe runs in a fresh interpreter, so ``sys.modules`` holds exactly what that code
imported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import packages_distributions

import pytest
from packaging.utils import canonicalize_name

from pantheon.cli import build_parser, resolve_runner
from pantheon.config import Role
from tests.unit.deploy.test_lock import locked

pytestmark = pytest.mark.unit

#: Modules only a command's run needs (the web app, Celery, the ORM and migrations, the
#: plots of the demo report, the encoder runtime, and pantheon's own run-time layers).
HEAVY = (
    "fastapi",
    "uvicorn",
    "celery",
    "kombu",
    "matplotlib",
    "onnxruntime",
    "tokenizers",
    "sqlalchemy.orm",
    "alembic",
    "pantheon.api",
    "pantheon.worker.celery_app",
    "pantheon.store",
    "pantheon.training",
    "pantheon.demo",
    "pantheon.datasets",
    "pantheon.learning.coordizer",
)

PROBE = """
import contextlib, io, json, sys
from pantheon.cli import main, resolve_runner
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
{body}
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(*lines: str) -> set[str]:
    """``sys.modules`` of a fresh interpreter after ``lines`` ran."""
    body = "\n".join(f"    {line}" for line in lines)
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m in HEAVY or m.startswith(tuple(f"{h}." for h in HEAVY)))


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = (), role: Role | None = None
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, Role | None]]:
    """Every command and command group: its words, its parser and its production role."""
    role = parser.get_default("production_role") or role
    yield path, parser, role
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, (*path, name), role)


def test_help_imports_no_run_module() -> None:
    helps = [[*path, "--help"] for path, _, _ in commands(build_parser())]
    assert ["db", "upgrade", "--help"] in helps  # every level, not only the top
    lines = [f"with contextlib.suppress(SystemExit): main({argv!r})" for argv in helps]
    assert heavy_in(modules_after(*lines)) == []


def test_the_probe_sees_what_a_runner_imports() -> None:
    # The same probe, resolving the runner `pantheon serve` would run: the web app loads.
    loaded = modules_after("resolve_runner('pantheon.cli.services:run_serve')")
    assert {"fastapi", "uvicorn", "pantheon.api.app"} <= set(heavy_in(loaded))


#: Resolves the runners named on its command line with the dev-only packages made absent,
#: as they are where ``make demo`` installed the runtime dependencies only. A library's
#: optional import (joblib's of psutil) falls back there; a hard one fails.
RUNTIME_ONLY_PROBE = """
import importlib.abc, sys
absent = set(sys.argv[1].split(","))
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in absent:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
from pantheon.cli import resolve_runner
for spec in sys.argv[2:]:
    resolve_runner(spec)
"""


def dev_only_modules() -> set[str]:
    """Top-level modules that only distributions outside requirements.lock provide."""
    runtime = set(locked()) | {"pantheon"}
    return {
        module
        for module, owners in packages_distributions().items()
        if not any(canonicalize_name(d) in runtime for d in owners)
    }


def resolve_without(absent: set[str], runners: list[str]) -> subprocess.CompletedProcess[str]:
    """Every runner resolved in a fresh interpreter where ``absent``'s modules are missing."""
    return subprocess.run(
        [sys.executable, "-c", RUNTIME_ONLY_PROBE, ",".join(sorted(absent)), *runners],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_every_command_imports_only_runtime_dependencies() -> None:
    # A run module importing a dev-only package (scikit-learn once) passes every other test
    # in the dev venv and fails `make demo` for a new user.
    runners = sorted(
        {
            spec
            for _, parser, _ in commands(build_parser())
            if (spec := parser.get_default("runner"))
        }
    )
    absent = dev_only_modules()
    assert {"pytest", "hypothesis", "mypy"} <= absent  # the probe hides the dev extra
    done = resolve_without(absent, runners)
    assert done.returncode == 0, done.stderr
    # the same probe fails when a package a runner needs is missing
    missing = resolve_without(absent | {"sklearn"}, runners)
    assert "No module named 'sklearn" in missing.stderr


def test_every_command_runs_a_function_of_its_run_module() -> None:
    leaves = [(p, parser) for p, parser, _ in commands(build_parser()) if p and not _groups(parser)]
    assert len(leaves) >= 14
    for path, parser in leaves:
        spec = parser.get_default("runner")
        assert isinstance(spec, str), path
        assert callable(resolve_runner(spec)), path


def test_production_roles_are_checked_where_they_were() -> None:
    roles = {" ".join(p): role for p, parser, role in commands(build_parser()) if p}
    assert {name: role for name, role in roles.items() if role is not None} == {
        "worker": Role.WORKER,
        "beat": Role.BEAT,
        "serve": Role.WEB,
        "up": Role.WEB,
        "db": Role.MIGRATE,
        "db upgrade": Role.MIGRATE,
        "db downgrade": Role.MIGRATE,
        "db current": Role.MIGRATE,
        "db recoordize": Role.MIGRATE,
        "replay": Role.WRITER,
    }


def test_a_runner_is_named_module_colon_function() -> None:
    with pytest.raises(ValueError, match="module:function"):
        resolve_runner("pantheon.cli.services.run_serve")
    with pytest.raises(TypeError, match="not callable"):
        resolve_runner("pantheon.cli:COMMAND_MODULES")


def _groups(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
