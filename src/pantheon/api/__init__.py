"""The web service: FastAPI app factory, thin routes, error mapping, dashboard.

``create_app`` and ``app_factory`` are loaded on first use, so the small modules
(``errors``, ``limits``, ``security``) import without the whole service layer.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app_factory", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pantheon.api import app

        return getattr(app, name)
    raise AttributeError(f"module 'pantheon.api' has no attribute {name!r}")
