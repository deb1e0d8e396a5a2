"""Exceptions raised by django-pusherable.

Every exception derives from :exc:`PusherableError`::

    PusherableError
    ├── ConfigurationError (also ImproperlyConfigured)
    ├── ChannelError (also ValueError)
    │   ├── InvalidChannelName
    │   ├── ChannelNameTooLong
    │   └── UnknownChannelModel
    ├── PayloadError (also ValueError)
    ├── AuthorizationError
    │   ├── BadAuthorizationRequest
    │   ├── AuthorizationDenied
    │   └── ObjectNotFound
    └── DeliveryError
        ├── TransientDeliveryError
        └── PermanentDeliveryError
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "AuthorizationDenied",
    "AuthorizationError",
    "BadAuthorizationRequest",
    "ChannelError",
    "ChannelNameTooLong",
    "ConfigurationError",
    "DeliveryError",
    "InvalidChannelName",
    "ObjectNotFound",
    "PayloadError",
    "PermanentDeliveryError",
    "PusherableError",
    "TransientDeliveryError",
    "UnknownChannelModel",
]


class PusherableError(Exception):
    """Base class of every exception raised by django-pusherable."""


class ConfigurationError(PusherableError, ImproperlyConfigured):
    """Raised when a ``PUSHER_*`` or ``PUSHERABLE_*`` setting is missing or invalid."""


class ChannelError(PusherableError, ValueError):
    """Raised when a channel name cannot be built or parsed."""


class InvalidChannelName(ChannelError):
    """Raised when a channel name is not one that django-pusherable builds."""


class ChannelNameTooLong(ChannelError):
    """Raised when an object's channel name would exceed Pusher's length limit."""


class UnknownChannelModel(ChannelError):
    """Raised when a channel name names a model that is not installed."""


class PayloadError(PusherableError, ValueError):
    """Raised when an event payload cannot be serialized to JSON."""


class AuthorizationError(PusherableError):
    """Raised when a channel authorization, signin or intent request cannot be granted.

    :attr:`status` is the HTTP status the endpoints answer with; the message is
    sent to the browser as ``{"error": message}``, so it never holds a secret.
    """

    status = 403

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class BadAuthorizationRequest(AuthorizationError):
    """Raised when a request is malformed: socket id, channel name, intent (HTTP 400)."""

    status = 400


class AuthorizationDenied(AuthorizationError):
    """Raised when the authorization policy refuses the user (HTTP 403)."""

    status = 403


class ObjectNotFound(AuthorizationError):
    """Raised when a channel names a model or object that does not exist (HTTP 404)."""

    status = 404


class DeliveryError(PusherableError):
    """Raised when a backend cannot hand events to the Pusher API.

    ``status`` is the HTTP status of the API's answer, if there was one; ``cause``
    a short key naming the fault (``"401"``, ``"client"``...) for logging once per cause.
    """

    def __init__(
        self, message: str, *, status: int | None = None, cause: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.cause = cause or (str(status) if status is not None else None)


class TransientDeliveryError(DeliveryError):
    """Raised for faults worth retrying: refused connections, timeouts, 5xx and 429."""


class PermanentDeliveryError(DeliveryError):
    """Raised for faults that retrying cannot fix: 400, 401, 403, 413."""
