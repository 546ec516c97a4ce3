"""The pantheon: which gods exist, their domains, and their shadows.

Names are case-insensitive on input and stored in one canonical form: lower case, with
the shadow of ``zeus`` named ``zeus_shadow``. Display names keep the roster's spelling.

A deployment replaces the default roster with a JSON file (``PANTHEON_ROSTER_FILE``)::

    {"gods": [{"name": "gpt-4-1106-preview", "domain": "strong general model",
               "cost_per_call": 10},
              {"name": "mixtral-8x7b", "domain": "fast open model", "cost_per_call": 0.6}]}

``cost_per_call`` is in any unit the deployment likes (dollars per 1,000 calls, say), only
ratios matter; it defaults to 1, and every god of the default roster costs 1 (they are
agents of one kind), so without costs in the roster cost-aware routing changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydantic
from pydantic import BaseModel, ConfigDict, Field, RootModel

from pantheon.errors import ConfigurationError, UnknownGodError
from pantheon.text import Identifier, Text

SHADOW_SUFFIX = "_shadow"
DEFAULT_COST = 1.0
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._/:-]{0,119}$")

DEFAULT_GODS: tuple[tuple[str, str], ...] = (
    ("Zeus", "leadership, strategy and arbitration between conflicting goals"),
    ("Athena", "reasoning, logic, mathematics and careful analysis"),
    ("Apollo", "knowledge, explanation, medicine and the sciences"),
    ("Artemis", "search, retrieval and tracking down precise facts"),
    ("Ares", "debate, adversarial review and security"),
    ("Hephaestus", "engineering, programming and building things"),
    ("Aphrodite", "writing style, empathy and relationships"),
    ("Hera", "planning, organisation, law and governance"),
    ("Poseidon", "geography, earth sciences, weather and the sea"),
    ("Hades", "risk, failure analysis, history and what lies beneath"),
    ("Demeter", "nutrition, biology, agriculture and everyday life"),
    ("Dionysus", "creativity, the arts, music and entertainment"),
    ("Hermes", "communication, translation, business and economics"),
)


def canonical(name: str) -> str:
    """The stored form of a god or kernel name: stripped and lower-cased."""
    return name.strip().lower()


def shadow_of(god: str) -> str:
    return canonical(god) + SHADOW_SUFFIX


def is_shadow(kernel_name: str) -> bool:
    return canonical(kernel_name).endswith(SHADOW_SUFFIX)


def god_of(kernel_name: str) -> str:
    """The god a kernel belongs to: ``zeus_shadow`` → ``zeus``; ``zeus`` → ``zeus``."""
    name = canonical(kernel_name)
    return name[: -len(SHADOW_SUFFIX)] if name.endswith(SHADOW_SUFFIX) else name


MAX_GODS = 1000


class GodEntry(BaseModel):
    """One god of a roster file: ``name`` a non-empty string (no coercion: ``null`` or
    ``3`` is refused, not turned into "none" or "3"), ``domain`` optional free text."""

    model_config = ConfigDict(strict=True, extra="ignore")

    name: Identifier = Field(min_length=1, max_length=120)
    domain: Text = Field("", max_length=2000)
    #: What one call costs (any unit, the same for every god); cost-aware routing uses it.
    cost_per_call: float = Field(DEFAULT_COST, ge=0, allow_inf_nan=False)


class RosterFile(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    gods: list[GodEntry] = Field(min_length=1, max_length=MAX_GODS)


class _RosterList(RootModel[list[GodEntry]]):
    root: list[GodEntry] = Field(min_length=1, max_length=MAX_GODS)


def _roster_problem(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "file"
        parts.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


@dataclass(frozen=True)
class God:
    name: str  # canonical
    display_name: str
    domain: str
    #: What one call costs (any unit, the same for every god); cost-aware routing uses it.
    cost_per_call: float = DEFAULT_COST

    @property
    def shadow(self) -> str:
        return self.name + SHADOW_SUFFIX


class Roster:
    """An ordered, immutable set of gods with case-insensitive look-up."""

    def __init__(self, gods: list[God]) -> None:
        if not gods:
            raise ConfigurationError("a roster needs at least one god")
        by_name: dict[str, God] = {}
        for god in gods:
            if not _NAME_RE.match(god.name) or god.name.endswith(SHADOW_SUFFIX):
                raise ConfigurationError(f"invalid god name {god.display_name!r}")
            if god.name in by_name:
                raise ConfigurationError(f"god {god.display_name!r} is listed twice")
            by_name[god.name] = god
        self._gods = by_name

    @classmethod
    def default(cls) -> Roster:
        return cls([God(canonical(n), n, d) for n, d in DEFAULT_GODS])

    @classmethod
    def from_file(cls, path: Path) -> Roster:
        """Read a roster file (``{"gods": [...]}`` or a bare list); every defect is a
        :class:`ConfigurationError` naming the entry, never a god made of a wrong type.
        Names must be unique case-insensitively (checked by the constructor)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read roster file {path}: {exc}") from exc
        try:
            data = json.loads(text)
            entries = (
                _RosterList.model_validate(data).root
                if isinstance(data, list)
                else RosterFile.model_validate(data).gods
            )
        except RecursionError as exc:
            raise ConfigurationError(f"roster file {path} is nested too deeply") from exc
        except ValueError as exc:  # JSON and pydantic errors alike
            detail = _roster_problem(exc) if isinstance(exc, pydantic.ValidationError) else exc
            raise ConfigurationError(f"invalid roster file {path}: {detail}") from exc
        return cls(
            [God(canonical(e.name), e.name.strip(), e.domain, e.cost_per_call) for e in entries]
        )

    @classmethod
    def load(cls, path: Path | None) -> Roster:
        return cls.from_file(path) if path else cls.default()

    def __iter__(self) -> Iterator[God]:
        return iter(self._gods.values())

    def __len__(self) -> int:
        return len(self._gods)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonical(name) in self._gods

    @property
    def names(self) -> list[str]:
        return list(self._gods)

    @property
    def kernel_names(self) -> list[str]:
        """Every kernel of the pantheon: each god followed by its shadow."""
        return [k for g in self._gods.values() for k in (g.name, g.shadow)]

    def get(self, name: str) -> God:
        """The god called ``name`` (any case); :class:`UnknownGodError` lists the valid ones."""
        god = self._gods.get(canonical(name))
        if god is None:
            raise UnknownGodError(name, self.names)
        return god

    def resolve_kernel(self, name: str) -> str:
        """Canonical kernel name for a god or shadow name; raises for unknown gods."""
        self.get(god_of(name))
        return canonical(name)
