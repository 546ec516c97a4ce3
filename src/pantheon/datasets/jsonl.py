"""JSON Lines of outcomes: read line by line (bad lines reported, not fatal) and write.

A path ending in ``.gz`` is read and written gzip-compressed.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

#: What a blank line may hold: ASCII whitespace, as ``bytes.strip`` sees it. ``str.strip``
#: would also drop the separators U+001C–U+001F, U+0085, U+2028 and others, so a line of
#: them would vanish unreported instead of being refused as not JSON.
BLANK = " \t\n\r\x0b\x0c"
_BLANK_BYTES = BLANK.encode()


@dataclass(frozen=True)
class JsonLine:
    """One non-blank line of a JSON Lines file: its 1-based number and object or error."""

    number: int
    record: dict[str, Any] | None
    error: str | None = None


def _open_bytes(path: Path) -> IO[bytes]:
    if Path(path).suffix == ".gz":
        return io.BufferedReader(gzip.GzipFile(path, "rb"))
    return open(path, "rb")


def is_blank(raw: bytes) -> bool:
    """Whether one raw line of a JSON Lines file holds nothing but :data:`BLANK`."""
    return not raw.strip(_BLANK_BYTES)


def count_lines(path: Path) -> int:
    """Non-blank lines (:data:`BLANK`), split as :func:`iter_lines` splits them: the total
    a progress bar counts up to."""
    with _open_bytes(path) as handle:
        return sum(1 for raw in handle if not is_blank(raw))


def _open_for_writing(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        # mtime=0 keeps the compressed bytes identical from one run to the next.
        raw = gzip.GzipFile(path, "wb", compresslevel=9, mtime=0)
        return io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    return open(path, "w", encoding="utf-8", newline="\n")


def iter_lines(path: Path) -> Iterator[JsonLine]:
    """Every non-blank line (:data:`BLANK`), parsed; a line that is not a JSON object
    carries its error.

    Each line is decoded on its own, so one line of broken UTF-8 (or JSON nested too deep
    to parse) is reported with its number and the lines after it are still read.
    """
    with _open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            if is_blank(raw):  # the rule count_lines applies: one rule, one place
                continue
            try:
                text = raw.decode("utf-8").strip(BLANK)
            except UnicodeDecodeError as exc:
                yield JsonLine(number, None, f"not valid UTF-8 (byte {exc.start})")
                continue
            try:
                value = json.loads(text)
            except RecursionError:
                yield JsonLine(number, None, "not valid JSON: nested too deeply")
                continue
            except ValueError as exc:
                yield JsonLine(number, None, f"not valid JSON: {exc}")
                continue
            if not isinstance(value, dict):
                yield JsonLine(number, None, f"expected a JSON object, got {type(value).__name__}")
                continue
            yield JsonLine(number, value)


def write_lines(records: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write one compact JSON object per line, atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp" + (".gz" if path.suffix == ".gz" else ""))
    count = 0
    try:
        with _open_for_writing(tmp) as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                handle.write("\n")
                count += 1
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return count
