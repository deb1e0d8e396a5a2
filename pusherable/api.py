"""The ``pusher`` client used to sign authorizations, check webhooks and query the HTTP API.

Signing and webhook checks are local computations (no network I/O). The client is
built once per set of settings and per timeout, and dropped when a ``PUSHER*``
setting changes, so ``override_settings`` works in tests. The delivery backend
keeps its own client: its timeouts and connection pool serve another purpose.
"""

from __future__ import annotations

import threading
from typing import Any

import pusher

from .conf import settings, settings_reloaded
from .exceptions import ConfigurationError

__all__ = ["get_client", "reset_clients"]

_clients: dict[float | None, pusher.Pusher] = {}
_lock = threading.Lock()


def get_client(*, timeout: float | None = None) -> pusher.Pusher:
    """A :class:`pusher.Pusher` built from ``settings.pusher_client_options()``.

    ``timeout`` (seconds) overrides :data:`PUSHERABLE_TIMEOUT` for HTTP API calls;
    one client is cached per value. Raises :exc:`~pusherable.exceptions.ConfigurationError`
    when the credentials are missing or invalid.
    """
    client = _clients.get(timeout)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(timeout)
        if client is None:
            if not settings.is_configured:
                raise ConfigurationError(
                    "PUSHER_APP_ID, PUSHER_KEY and PUSHER_SECRET must be set to sign "
                    "channel authorizations."
                )
            options = settings.pusher_client_options()
            if timeout is not None:
                options["timeout"] = float(timeout)
            try:
                client = pusher.Pusher(**options)
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"Invalid Pusher settings: {exc}") from exc
            _clients[timeout] = client
        return client


def reset_clients() -> None:
    """Forget the cached clients; the next :func:`get_client` builds a new one."""
    with _lock:
        _clients.clear()


def _on_settings_reloaded(sender: Any, setting: str, **kwargs: Any) -> None:
    if setting.startswith("PUSHER"):
        reset_clients()


settings_reloaded.connect(_on_settings_reloaded, dispatch_uid="pusherable.api")
