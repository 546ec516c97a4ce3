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
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pantheon.errors import ConfigurationError, UnknownGodError

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


def _cost(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"cost_per_call of {name!r} must be a number")
    cost = float(value)
    if not math.isfinite(cost) or cost < 0:
        raise ValueError(f"cost_per_call of {name!r} must be finite and not negative")
    return cost


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
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            entries = data["gods"] if isinstance(data, dict) else data
            gods = [
                God(
                    canonical(str(e["name"])),
                    str(e["name"]).strip(),
                    str(e.get("domain", "")),
                    _cost(e.get("cost_per_call", DEFAULT_COST), str(e["name"])),
                )
                for e in entries
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"cannot read roster file {path}: {exc}") from exc
        return cls(gods)

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
