"""The one rule for text that enters Pantheon: what is refused, and why.

Text is user data, so it is stored exactly as sent or refused with a clear reason; it is
never silently altered. Two things are refused everywhere (request bodies, query strings,
paths, Celery task arguments, replayed and imported files):

* NUL (U+0000): PostgreSQL cannot store it in a text column while SQLite can, so
  accepting it would make the two stores disagree;
* lone UTF-16 surrogates (U+D800–U+DFFF, e.g. the JSON escape ``"\\ud800"`` alone): they
  are not Unicode scalar values and cannot be encoded as UTF-8 by either store.

Free text (prompts, responses) keeps every other character, control characters included
(form feeds and terminal escapes occur in real transcripts, and both stores keep them).
Identifiers (god names, outcome keys, source ids, task ids) additionally refuse every
control character (C0, DEL, C1): they end up in logs, file names and URLs.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["Identifier", "Text", "check_identifier", "check_text", "text_problem"]

_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def text_problem(value: str) -> str | None:
    """Why ``value`` is refused as free text, or ``None`` when it is fine."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return None
    char = found.group()
    at = found.start()
    if char == "\x00":
        return f"contains a NUL character (U+0000) at offset {at}"
    return f"contains a lone UTF-16 surrogate (U+{ord(char):04X}) at offset {at}"


def check_text(value: str) -> str:
    """``value`` unchanged, or :class:`ValueError` saying what is wrong (pydantic's way)."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_identifier(value: str) -> str:
    """Free-text rule plus: no control characters at all."""
    check_text(value)
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(
            f"contains a control character (U+{ord(found.group()):04X}) at offset "
            f"{found.start()}; identifiers must be printable"
        )
    return value


#: Free text: stored verbatim; NUL and lone surrogates refused.
Text = Annotated[str, AfterValidator(check_text)]
#: A name or key: free-text rule plus no control characters.
Identifier = Annotated[str, AfterValidator(check_identifier)]
