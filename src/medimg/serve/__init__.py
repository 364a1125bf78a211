"""The web service: ``medimg serve RUN`` (FastAPI app factory, routers, storage, auth, de-identification).

Example:
    >>> from medimg.serve import ServeSettings, create_app
    >>> app = create_app(ServeSettings(run_dir="runs/demo/run"))     # doctest: +SKIP

Needs the ``serve`` extra: ``pip install 'medimg[serve]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medimg.serve.settings import ServeSettings

if TYPE_CHECKING:
    from medimg.serve.app import create_app

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from medimg.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'medimg.serve' has no attribute {name!r}")
