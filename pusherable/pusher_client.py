"""The ``pusher`` client used to sign authorizations, check webhooks and query the HTTP API.

Signing and webhook checks are local computations (no network I/O). The HTTP API
calls (who is on a presence channel, ending a user's connections) go through the
same urllib3 transport as delivery (:class:`~pusherable.backends.http.Urllib3Transport`:
kept-alive connections, the ``pusher`` library's certificate bundle, the
environment's proxy, a request sent once more when a kept-alive connection was
closed under it, as soketi closes every one after its answer).

The client is built once per set of settings and per timeout, and dropped (its
connections closed) when a ``PUSHER*`` setting changes, so ``override_settings``
works in tests. The delivery backend keeps its own client: its timeouts and
connection pool serve another purpose.
"""

from __future__ import annotations

import threading
from typing import Any

import pusher
import urllib3
from pusher.http import POST, Request

from .backends.http import APIError, Urllib3Transport, close_transport
from .conf import settings, settings_reloaded
from .exceptions import ConfigurationError, DeliveryError
from .members import member_id

__all__ = ["get_client", "reset_clients", "terminate_user_connections"]

_clients: dict[float | None, pusher.Pusher] = {}
_lock = threading.Lock()

#: Connections each client keeps open for reuse (request threads share it; more are
#: opened at once when needed, and closed after use).
POOL_SIZE = 10


def get_client(*, timeout: float | None = None) -> pusher.Pusher:
    """A :class:`pusher.Pusher` built from ``settings.pusher_client_options()``.

    Its HTTP API calls go through :class:`~pusherable.backends.http.Urllib3Transport`,
    with the ``proxy`` and ``ca_certs`` of :data:`PUSHERABLE_BACKEND_OPTIONS` when
    they are given: an error answer raises :exc:`~pusherable.backends.http.APIError` (a
    :exc:`pusher.errors.PusherBadStatus` with the ``status``), a network fault
    :exc:`urllib3.exceptions.HTTPError`. ``timeout`` (seconds) overrides
    :data:`PUSHERABLE_TIMEOUT` for HTTP API calls; one client is cached per value.
    Raises :exc:`~pusherable.exceptions.ConfigurationError` when the credentials are
    missing or invalid.
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
                client = pusher.Pusher(
                    **options, backend=Urllib3Transport, maxsize=POOL_SIZE, **_reach_options()
                )
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"Invalid Pusher settings: {exc}") from exc
            _clients[timeout] = client
        return client


def _reach_options() -> dict[str, Any]:
    # How to reach the API is the same for every call: the delivery backend's
    # ``proxy`` and ``ca_certs`` options (a private CA, say) serve these calls too.
    backend_options = settings.PUSHERABLE_BACKEND_OPTIONS
    if not isinstance(backend_options, dict):
        return {}  # reported by the system checks
    return {
        name: value for name, value in backend_options.items() if name in ("proxy", "ca_certs")
    }


def reset_clients() -> None:
    """Forget the cached clients and close their connections; the next
    :func:`get_client` builds a new one."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        close_transport(client)


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
            client.terminate_user_connections(user_id)
        except APIError as exc:
            if exc.status != 404:
                raise
            inner = client._pusher_client  # the library has no call for this path
            path = f"/apps/{inner.app_id}/users/{user_id}/terminate_connections"
            inner.http.send_request(Request(inner, POST, path, {}))
    except APIError as exc:
        # Also soketi's answer with status 200 whose body reports an error.
        raise DeliveryError(
            f"Cannot end the connections of user {user_id}: {exc}", status=exc.status
        ) from exc
    except (pusher.errors.PusherError, urllib3.exceptions.HTTPError, ValueError, OSError) as exc:
        raise DeliveryError(f"Cannot end the connections of user {user_id}: {exc}") from exc


def _on_settings_reloaded(sender: Any, setting: str, **kwargs: Any) -> None:
    if setting.startswith("PUSHER"):
        reset_clients()


settings_reloaded.connect(_on_settings_reloaded, dispatch_uid="pusherable.pusher_client")
