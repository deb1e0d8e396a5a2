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
from pusher.errors import PusherBadStatus
from pusher.http import POST, Request

from .conf import settings, settings_reloaded
from .exceptions import ConfigurationError, DeliveryError
from .members import member_id

__all__ = ["get_client", "reset_clients", "terminate_user_connections"]

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


def terminate_user_connections(user: Any) -> None:
    """Close every connection signed in as ``user`` (a user, or a member id string).

    For when a user loses access: a tab that already listens keeps hearing until
    it subscribes again. Only connections signed in with pusher-js's
    ``signin()`` (``pusherable:user-auth``) are affected.

    The ``pusher`` library posts to ``/users/<id>/terminate_connections`` (hosted
    Pusher, the bundled server); soketi serves that under ``/apps/<app_id>/`` only
    and answers 404, so that path is tried next. Raises
    :exc:`~pusherable.exceptions.DeliveryError` when neither works, including an
    answer with status 200 whose body reports an error (soketi's way).
    """
    user_id = user if isinstance(user, str) else member_id(user)
    client = get_client()
    try:
        try:
            answer = client.terminate_user_connections(user_id)
        except PusherBadStatus as exc:
            if not str(exc).startswith("404"):
                raise
            inner = client._pusher_client  # the library has no call for this path
            path = f"/apps/{inner.app_id}/users/{user_id}/terminate_connections"
            answer = inner.http.send_request(Request(inner, POST, path, {}))
    except (pusher.errors.PusherError, ValueError, OSError) as exc:
        raise DeliveryError(f"Cannot end the connections of user {user_id}: {exc}") from exc
    if isinstance(answer, dict) and answer.get("error"):
        status = answer.get("code")
        raise DeliveryError(
            f"Cannot end the connections of user {user_id}: {answer['error']}",
            status=status if isinstance(status, int) else None,
        )


def _on_settings_reloaded(sender: Any, setting: str, **kwargs: Any) -> None:
    if setting.startswith("PUSHER"):
        reset_clients()


settings_reloaded.connect(_on_settings_reloaded, dispatch_uid="pusherable.pusher_client")
