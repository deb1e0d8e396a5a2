"""HMAC-SHA256 signatures of the Pusher protocol, pure functions.

Every signature is lowercase hex HMAC-SHA256 keyed with the app secret, computed
over the **exact** strings received (never re-serialized JSON), and every check
compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = [
    "body_md5",
    "channel_auth_string",
    "check_auth",
    "constant_time_equal",
    "sign",
    "sign_channel",
    "sign_request",
    "sign_user",
    "sign_webhook",
    "signin_string",
    "string_to_sign",
]


def sign(secret: str, message: str | bytes) -> str:
    """Return the hex HMAC-SHA256 of *message* keyed with *secret*."""
    if isinstance(message, str):
        message = message.encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    """Compare two strings in time that does not depend on where they differ."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def channel_auth_string(socket_id: str, channel: str, channel_data: str | None = None) -> str:
    """String a private or presence subscription signs (``socket:channel[:data]``)."""
    if channel_data is None:
        return f"{socket_id}:{channel}"
    return f"{socket_id}:{channel}:{channel_data}"


def signin_string(socket_id: str, user_data: str) -> str:
    """String a user signin signs (``socket::user::user_data``)."""
    return f"{socket_id}::user::{user_data}"


def sign_channel(
    secret: str, socket_id: str, channel: str, channel_data: str | None = None
) -> str:
    """Signature of a private/encrypted (no *channel_data*) or presence subscription."""
    return sign(secret, channel_auth_string(socket_id, channel, channel_data))


def sign_user(secret: str, socket_id: str, user_data: str) -> str:
    """Signature of a ``pusher:signin``."""
    return sign(secret, signin_string(socket_id, user_data))


def check_auth(auth: object, key: str, secret: str, signed_string: str) -> bool:
    """Check an ``auth`` value ``"{key}:{hex}"`` against *signed_string*.

    The key part must be this app's key; the comparison is constant time.
    """
    if not isinstance(auth, str):
        return False
    given_key, sep, signature = auth.partition(":")
    expected = sign(secret, signed_string)
    # Evaluate both comparisons so that timing does not reveal which part differs.
    key_ok = constant_time_equal(given_key, key)
    signature_ok = constant_time_equal(signature, expected)
    return bool(sep) and key_ok and signature_ok


def body_md5(body: bytes) -> str:
    """Hex MD5 of a request body, as in the ``body_md5`` query parameter."""
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def string_to_sign(method: str, path: str, params: Mapping[str, str]) -> str:
    """Build the string an HTTP API request signs.

    *params* are the decoded query parameters; ``auth_signature`` is left out, keys
    are lowercased and sorted, and values are joined unescaped.
    """
    items = sorted(
        (name.lower(), value) for name, value in params.items() if name != "auth_signature"
    )
    query = "&".join(f"{name}={value}" for name, value in items)
    return f"{method.upper()}\n{path}\n{query}"


def sign_request(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    """``auth_signature`` of an HTTP API request."""
    return sign(secret, string_to_sign(method, path, params))


def sign_webhook(secret: str, body: bytes) -> str:
    """``X-Pusher-Signature`` of a webhook body (the exact bytes sent)."""
    return sign(secret, body)
