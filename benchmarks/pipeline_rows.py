"""The rows the pipeline benchmark sends: real outcomes, repeated and varied to any count.

Source: the bundled sample of real RouteLLM outcomes
(``pantheon/data/sample/routellm_sample.jsonl.gz``: real prompts, real answers where the
benchmark kept them, real verdicts of two real models). To reach 100k+ rows the sample is
repeated; repetition ``k >= 1`` of a row gets ``[variant k]`` appended to its prompt (so
its basin differs a little and no two rows are identical), and every row gets its own
``outcome_key`` so none is taken for a duplicate. With ``roster="default"`` the rows are
spread over the default pantheon's 13 gods (row i, repetition k -> god (i + k) mod 13);
with ``roster="sample"`` each row keeps its real model as the god (two gods).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pantheon.roster import Roster

SAMPLE_FILE = "routellm_sample.jsonl.gz"
#: The fields of ``POST /api/outcomes`` the sample carries and the benchmark sends.
SENT_FIELDS = ("god_name", "prompt", "response", "success", "score", "source_type", "source_id")


def sample_dir() -> Path:
    return Path(str(resources.files("pantheon") / "data" / "sample"))


def load_sample(path: Path | None = None) -> list[dict[str, Any]]:
    """The bundled real outcomes, as ``POST /api/outcomes`` bodies."""
    path = path or sample_dir() / SAMPLE_FILE
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    if not rows:
        raise RuntimeError(f"no outcomes in {path}")
    return [{k: row[k] for k in SENT_FIELDS if k in row} for row in rows]


def roster_gods(roster: str) -> list[str] | None:
    """The god names rows are spread over; ``None`` keeps each row's own god."""
    if roster == "default":
        return Roster.default().names
    if roster == "sample":
        return None
    raise ValueError(f"unknown roster {roster!r} (default or sample)")


def expand(
    source: Sequence[dict[str, Any]],
    count: int,
    run_id: str,
    gods: Sequence[str] | None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """``count`` outcome bodies from ``source``, numbered from ``offset`` (see module doc)."""
    return list(iter_expanded(source, count, run_id, gods, offset))


def iter_expanded(
    source: Sequence[dict[str, Any]],
    count: int,
    run_id: str,
    gods: Sequence[str] | None,
    offset: int = 0,
) -> Iterator[dict[str, Any]]:
    size = len(source)
    for n in range(offset, offset + count):
        k, i = divmod(n, size)
        row = dict(source[i])
        if k:
            row["prompt"] = f"{row['prompt']} [variant {k}]"
        if gods is not None:
            row["god_name"] = gods[(i + k) % len(gods)]
        row["outcome_key"] = f"bench-{run_id}-{n}"
        row["source_type"] = "replay"
        yield row


def batches(rows: Sequence[dict[str, Any]], size: int) -> list[bytes]:
    """``POST /api/outcomes/batch`` bodies of ``size`` outcomes, encoded once up front."""
    return [
        json.dumps({"outcomes": list(rows[i : i + size])}, separators=(",", ":")).encode()
        for i in range(0, len(rows), size)
    ]


def singles(rows: Sequence[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(row, separators=(",", ":")).encode() for row in rows]


def write_bodies(path: Path, bodies: Sequence[bytes]) -> Path:
    """One pre-encoded request body per line, for a load-generator process to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for body in bodies:
            handle.write(body + b"\n")
    return path


def read_bodies(path: Path) -> list[bytes]:
    with path.open("rb") as handle:
        return [line.rstrip(b"\n") for line in handle if line.strip()]
