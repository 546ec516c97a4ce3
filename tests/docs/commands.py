"""Does a shell command named in a config file or a guide resolve against this repository?

``resolve(command)`` raises ``AssertionError`` (with the reason) when it would not:
``pantheon ...`` must parse with the real CLI parser, ``celery -A MOD ...`` must name an
importable module and only routed queues, ``python -m MOD`` must import, ``make TARGET``
must be a Makefile target. Commands for tools outside the repository (``curl``,
``railway``, ``git``...) are checked for shell syntax only.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path

from pantheon.cli import build_parser
from pantheon.worker.queues import ALL_QUEUES as QUEUES

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = {
    "curl",
    "railway",
    "git",
    "cd",
    "export",
    "echo",
    "docker",
    "redis-cli",
    "psql",
    "pip",
    "python3",
    "cp",
    "open",
    "xdg-open",
    "watch",
    "gunzip",
    "zcat",
    "head",
    "ls",
    "source",
}
_ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
#: What each ``pantheon`` sub-command needs at run time; the module must import.
RUNTIME_MODULES = {
    "serve": "pantheon.api.app",
    "up": "pantheon.api.app",
    "worker": "pantheon.worker.celery_app",
    "beat": "pantheon.worker.celery_app",
    "db": "pantheon.store.migrate",
    "demo": "pantheon.demo.run",
    "replay": "pantheon.imports.replay",
    "import": "pantheon.imports.routellm",
    "bench": "pantheon.bench.routing",
}
_CELERY_SUBCOMMANDS = {"worker", "beat", "flower", "inspect", "status", "purge", "events", "call"}


_OPERATORS = {"&&", "||", ";", "|", "&"}


def pipeline(command: str) -> list[list[str]]:
    """The simple commands of a shell line (split on ``&&``, ``||``, ``;``, ``|``)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in _OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    out = []
    for argv in commands:
        while argv and _ENV_ASSIGNMENT.match(argv[0]):
            argv.pop(0)
        if argv:
            out.append(argv)
    return out


def split(command: str) -> list[str]:
    """argv of a single command: leading ``VAR=value`` words dropped."""
    commands = pipeline(command)
    assert len(commands) == 1, f"{command!r} is not one simple command"
    return commands[0]


def parse_pantheon(argv: list[str]) -> argparse.Namespace:
    out = io.StringIO()
    try:
        with contextlib.redirect_stderr(out), contextlib.redirect_stdout(io.StringIO()):
            return build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0:  # --help / --version
            return argparse.Namespace(command=None)
        raise AssertionError(f"pantheon {' '.join(argv)}: {out.getvalue().strip()}") from None


def check_queues(text: str, where: str) -> None:
    names = [q.strip() for q in text.split(",") if q.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    assert not unknown, f"{where}: queues {unknown} are not routed ({', '.join(QUEUES)})"


def resolve_pantheon(argv: list[str]) -> None:
    args = parse_pantheon(argv)
    module = RUNTIME_MODULES.get(str(getattr(args, "command", None)))
    if module:
        importlib.import_module(module)
    queues = getattr(args, "queues", None)
    if isinstance(queues, str):
        check_queues(queues, f"pantheon {' '.join(argv)}")
    elif isinstance(queues, list):
        check_queues(",".join(queues), f"pantheon {' '.join(argv)}")


def resolve_celery(argv: list[str]) -> None:
    where = "celery " + " ".join(argv)
    app = None
    for i, word in enumerate(argv):
        if word in ("-A", "--app") and i + 1 < len(argv):
            app = argv[i + 1]
        elif word.startswith("--app="):
            app = word.split("=", 1)[1]
        elif word in ("-Q", "--queues") and i + 1 < len(argv):
            check_queues(argv[i + 1], where)
        elif word.startswith("--queues="):
            check_queues(word.split("=", 1)[1], where)
    assert app, f"{where}: no -A/--app"
    module_name, _, attribute = app.partition(":")
    module = importlib.import_module(module_name)
    if attribute:
        assert hasattr(module, attribute), f"{where}: {module_name} has no {attribute}"
    else:
        # Celery's own search: the module's app/celery, then its submodule ``celery``.
        found = hasattr(module, "app") or hasattr(module, "celery")
        if not found and hasattr(module, "__path__"):
            with contextlib.suppress(ImportError):
                found = hasattr(importlib.import_module(f"{module_name}.celery"), "app")
        assert found, f"{where}: no Celery app"
    assert _CELERY_SUBCOMMANDS & set(argv), f"{where}: no known celery sub-command"


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.MULTILINE))


def resolve(command: str) -> None:
    """Raise ``AssertionError`` unless every command of the line would run here."""
    for argv in pipeline(command):
        resolve_argv(argv, command)


def resolve_argv(argv: list[str], command: str) -> None:
    program = Path(argv[0]).name
    if program == "pantheon":
        resolve_pantheon(argv[1:])
    elif program == "celery":
        resolve_celery(argv[1:])
    elif program in ("python", "python3.11") and argv[1:2] == ["-m"]:
        module = argv[2]
        if module == "pantheon":
            resolve_pantheon(argv[3:])
        else:
            importlib.import_module(module)
    elif program == "python":
        script = ROOT / argv[1]
        assert script.is_file(), f"{command}: {argv[1]} does not exist"
    elif program == "make":
        unknown = set(argv[1:]) - makefile_targets()
        assert not unknown, f"{command}: no Makefile target {sorted(unknown)}"
    elif program == "bash":
        assert (ROOT / argv[1]).is_file(), f"{command}: {argv[1]} does not exist"
    else:
        assert program in EXTERNAL, f"{command}: unknown program {program!r}"
