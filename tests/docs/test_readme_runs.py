"""The README's data commands, run verbatim in a checkout-shaped sandbox.

The sandbox has the repository's ``src``, the ``.venv/bin/pantheon`` that ``make demo``
installs, and the shared RouteLLM data at ``../shared`` (as in the development checkout),
and the virtualenv is NOT on ``PATH``: the commands run exactly as printed, as they would
for someone who just ran ``make demo`` (a bare ``pantheon`` would not be found).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commands import ROOT, pipeline
from tests.docs.test_doc_commands import shell_commands

pytestmark = pytest.mark.e2e

RUN_PREFIXES = (
    ".venv/bin/pantheon import",
    ".venv/bin/pantheon bench",
    ".venv/bin/pantheon replay",
)


#: Minutes-long on the full split (the encoder embeds every MMLU prompt; tens of prompts a
#: second per core on a CPU without int8 dot-product instructions): parsed by
#: ``test_doc_commands``, run small on real files by ``tests/e2e/cli/test_bench_online.py``
#: and ``tests/e2e/cli/test_data_commands.py``.
NOT_RUN = (".venv/bin/pantheon bench online", ".venv/bin/pantheon bench routing")


def readme_data_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        c for c in shell_commands(text) if c.startswith(RUN_PREFIXES) and not c.startswith(NOT_RUN)
    ]


def test_readme_data_commands_run(routellm_dir: Path, tmp_path: Path) -> None:
    commands = readme_data_commands()
    assert [pipeline(c)[0][:2] for c in commands] == [
        [".venv/bin/pantheon", "import"],
        [".venv/bin/pantheon", "replay"],
    ]
    repo = tmp_path / "repo"
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / "src").symlink_to(ROOT / "src")
    (repo / ".venv" / "bin" / "pantheon").symlink_to(Path(sys.executable).parent / "pantheon")
    (tmp_path / "shared").symlink_to(routellm_dir.parents[1])
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PANTHEON_", "CELERY_")) and k not in {"DATABASE_URL", "REDIS_URL"}
    }
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        PATH=os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin),
        PANTHEON_DATA_DIR=str(tmp_path / "data"),
        PANTHEON_TASK_MODE="sync",
        PANTHEON_LOG_LEVEL="WARNING",
        COLUMNS="120",
    )
    outputs = []
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        outputs.append(done.stdout)
    assert (repo / "train.jsonl").stat().st_size > 0
    assert (repo / "test.jsonl").stat().st_size > 0
    assert "accepted=4820" in outputs[1]
