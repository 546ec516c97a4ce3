"""Every shell command in the guides resolves against the code, so the docs cannot rot.

Commands are the lines of fenced ``bash``/``sh``/``shell``/``console`` blocks (a ``$ ``
prompt is dropped; ``\\`` continues a line). ``tests/commands.py`` says what
"resolves" means per program.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re

import pytest

from pantheon.config import Settings
from tests.commands import ROOT, pipeline, resolve

pytestmark = pytest.mark.unit

GUIDES = (
    "README.md",
    "RAILWAY_DEPLOYMENT.md",
    "CELERY_TASKS_GUIDE.md",
    "docs/ARCHITECTURE.md",
    "docs/CAPACITY.md",
    "src/pantheon/data/sample/README.md",
)
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
_FENCE = re.compile(r"^([ \t]*)```(\S*)[^\n]*\n(.*?)^\1```", re.DOTALL | re.MULTILINE)


def shell_commands(text: str) -> list[str]:
    commands: list[str] = []
    for match in _FENCE.finditer(text):
        if match[2].lower() not in SHELL_LANGUAGES:
            continue
        pending = ""
        for raw in match[3].splitlines():
            line = raw.strip()
            if line.startswith("$ "):
                line = line[2:]
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            line = (pending + line).strip()
            pending = ""
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def existing_guides() -> list[str]:
    return [name for name in GUIDES if (ROOT / name).is_file()]


def all_commands() -> list[tuple[str, str]]:
    return [
        (name, command)
        for name in existing_guides()
        for command in shell_commands((ROOT / name).read_text(encoding="utf-8"))
    ]


def test_the_guides_have_commands() -> None:
    counts = {name: len(shell_commands((ROOT / name).read_text())) for name in existing_guides()}
    assert counts["README.md"] >= 2
    assert counts["RAILWAY_DEPLOYMENT.md"] >= 5


@pytest.mark.parametrize(("guide", "command"), all_commands())
def test_command_resolves(guide: str, command: str) -> None:
    resolve(command)


def test_extraction_sees_fences_prompts_and_continuations() -> None:
    text = (
        "intro\n```bash\n$ pantheon demo\n# a comment\npantheon replay \\\n  f.jsonl\n```\n"
        '```json\n{"not": "shell"}\n```\n  ```sh\n  make test\n  ```\n'
    )
    assert shell_commands(text) == ["pantheon demo", "pantheon replay f.jsonl", "make test"]
    assert pipeline("A=1 pantheon demo && curl -s x | head") == [
        ["pantheon", "demo"],
        ["curl", "-s", "x"],
        ["head"],
    ]


def test_readme_keeps_the_two_commands_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo   # the main job, on the embedded default (no services needed)" in readme
    assert "make test   # the whole test suite" in readme
    resolve("make demo")
    resolve("make test")


def test_readme_commands_run_without_the_virtualenv_on_path() -> None:
    """After ``make demo`` only ``.venv/bin/pantheon`` exists: a bare ``pantheon`` in the
    README would answer "command not found" to a new user."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    programs = [argv[0] for command in shell_commands(readme) for argv in pipeline(command)]
    assert ".venv/bin/pantheon" in programs
    assert "pantheon" not in programs, "write .venv/bin/pantheon (or a make target)"


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", readme, flags=re.MULTILINE))
    aliases = {str(f.validation_alias) for f in Settings.model_fields.values()}
    assert not aliases - rows, f"README lacks {sorted(aliases - rows)}"
    assert not rows - aliases, f"README lists unknown {sorted(rows - aliases)}"


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+)\)", readme):
        assert (ROOT / target).exists(), f"README links to missing {target}"


def python_snippets(text: str) -> list[str]:
    return [m[3] for m in _FENCE.finditer(text) if m[2].lower() in {"python", "py"}]


def check_snippet(where: str, code: str) -> None:
    """The snippet parses, and every ``pantheon`` name it imports exists."""
    tree = ast.parse(code, filename=where)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pantheon"):
            module = importlib.import_module(str(node.module))
            for alias in node.names:
                found = hasattr(module, alias.name) or (
                    hasattr(module, "__path__")
                    and importlib.util.find_spec(f"{node.module}.{alias.name}") is not None
                )
                assert found, f"{where}: {node.module} has no {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pantheon"):
                    importlib.import_module(alias.name)


def test_python_snippets_parse_and_their_pantheon_imports_resolve() -> None:
    for name in existing_guides():
        text = (ROOT / name).read_text(encoding="utf-8")
        for i, code in enumerate(python_snippets(text)):
            check_snippet(f"{name} python block {i}", code)


def test_snippet_check_catches_a_missing_name() -> None:
    check_snippet("ok", "from pantheon.worker.queues import QUEUES\nprint(QUEUES)\n")
    with pytest.raises(AssertionError):
        check_snippet("bad", "from pantheon.worker.queues import NO_SUCH_NAME\n")
    with pytest.raises(SyntaxError):
        check_snippet("bad", "def broken(:\n")
