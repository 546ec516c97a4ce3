"""Stable seeds: sha256 of the parts, never the process-salted built-in ``hash``."""

from __future__ import annotations

import hashlib


def seed_int(*parts: object) -> int:
    """A 64-bit seed from a sha256 of the parts (stable across processes, unlike hash())."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
