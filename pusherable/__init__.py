"""Object-level presence notifications for Django, over the Pusher Channels protocol.

The public entry points for code outside views are re-exported here lazily, so that
``import pusherable`` never imports Django models or reads settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "1.0.0.dev0"

__all__ = ["__version__", "trigger", "trigger_for"]

if TYPE_CHECKING:
    from .delivery import trigger, trigger_for


def __getattr__(name: str) -> Any:
    # Lazy so that importing the package (e.g. from setup.cfg's ``version = attr:``
    # or the pytest plugin) has no side effects.
    if name in ("trigger", "trigger_for"):
        from . import delivery

        return getattr(delivery, name)
    raise AttributeError(f"module 'pusherable' has no attribute {name!r}")
