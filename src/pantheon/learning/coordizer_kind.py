"""The closed set of prompt representations (``PANTHEON_COORDIZER``), apart from the
coordizer so that reading settings never loads the encoder's runtime."""

from __future__ import annotations

from enum import StrEnum


class CoordizerKind(StrEnum):
    """What turns a prompt into its 384-D vector before the shared reduction: the sentence
    encoder (the default) or the static token table distilled from it
    (``static_table.py``; about 40× less CPU per prompt)."""

    ENCODER = "encoder"
    STATIC = "static"
