"""The text rule (:mod:`pantheon.text`) applied to every route's path and query string.

Bodies are checked by their schemas; this app-wide dependency covers what schemas do not
see, so ``GET /api/history?timescale=%00`` is a 422 on both stores instead of a driver
error on PostgreSQL.
"""

from __future__ import annotations

from fastapi import Request

from pantheon.errors import ValidationError
from pantheon.text import text_problem


async def reject_bad_text(request: Request) -> None:
    """Refuse a NUL or a lone surrogate in the path or any query key or value."""
    problem = text_problem(str(request.scope.get("path", "")))
    if problem is not None:
        raise ValidationError(f"path: {problem}", errors=[f"path: {problem}"])
    for key, value in request.query_params.multi_items():
        for part, text in (("name", key), ("value", value)):
            problem = text_problem(text)
            if problem is not None:
                where = f"query parameter {part}" if part == "name" else f"query.{key}"
                raise ValidationError(f"{where}: {problem}", errors=[f"{where}: {problem}"])
