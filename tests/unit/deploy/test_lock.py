"""requirements.lock (``make lock``) pins every dependency with hashes, for the pinned Python.

Railway's builds install from it (``deploy/railway/*.json``), so a dependency changed in
pyproject.toml without ``make lock`` fails here, not at the next deploy.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ \\;]+)")


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every entry of the lock."""
    entries: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        match = ENTRY.match(line)
        if match:
            current = canonicalize_name(match[1])
            entries[current] = (match[2], 0)
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    return entries


def test_every_runtime_dependency_is_locked_at_its_pinned_version() -> None:
    lock = locked()
    project = pyproject()["project"]
    assert isinstance(project, dict)
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} is not in requirements.lock: run `make lock`"
        version = lock[name][0]
        assert Version(version) in requirement.specifier, (
            f"{name}: pyproject wants {requirement.specifier}, the lock has {version}: "
            "run `make lock`"
        )


def test_every_locked_package_has_a_hash() -> None:
    lock = locked()
    assert len(lock) > 20
    unhashed = sorted(name for name, (_, hashes) in lock.items() if hashes == 0)
    assert not unhashed, unhashed


def test_the_build_backend_is_locked_too() -> None:
    """``pip install --no-build-isolation .`` builds with the locked setuptools."""
    lock = locked()
    build = pyproject()["build-system"]
    assert isinstance(build, dict)
    for text in build["requires"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in lock, f"build requirement {name} is not locked"
        assert Version(lock[name][0]) in requirement.specifier


def test_the_python_version_is_pinned_in_one_minor() -> None:
    pinned = (ROOT / ".python-version").read_text(encoding="utf-8").strip()
    project = pyproject()["project"]
    assert isinstance(project, dict)
    allowed = SpecifierSet(str(project["requires-python"]))
    assert Version(pinned) in allowed
    assert Version(pinned + ".99") in allowed
    assert Version("3.12") not in allowed  # the lock is resolved for one minor only
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"--python-version {pinned}" in makefile, "make lock resolves for another Python"
