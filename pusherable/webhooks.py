"""Pusher webhooks, checked and turned into Django signals (see :mod:`pusherable.signals`).

:func:`verify` checks a request the way Pusher signs it (HMAC-SHA256 of the raw
body with the app secret, the app key, a ``time_ms`` within five minutes);
:func:`dispatch` records presence (:mod:`pusherable.presence`) and sends one
signal per event.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal
from django.http import HttpRequest

from . import api, presence, signals
from .channels import ParsedChannel, parse_channel
from .exceptions import PusherableError

__all__ = ["EVENT_SIGNALS", "InvalidWebhook", "dispatch", "dispatch_event", "verify"]

logger = logging.getLogger("pusherable")

#: The webhook event names this library turns into signals.
EVENT_SIGNALS: dict[str, Signal] = {
    "channel_occupied": signals.channel_occupied,
    "channel_vacated": signals.channel_vacated,
    "member_added": signals.member_added,
    "member_removed": signals.member_removed,
    "client_event": signals.client_event,
}

_ENCRYPTED_PREFIX = "private-encrypted-"


class InvalidWebhook(PusherableError, ValueError):
    """A correctly signed webhook whose body cannot be read (the view answers 400)."""


def verify(request: HttpRequest) -> dict[str, Any] | None:
    """The webhook's body as a dict if Pusher signed it, else ``None``.

    The signature covers the raw bytes, so ``request.body`` is checked as received,
    never re-serialized. Raise :exc:`InvalidWebhook` for a signed body that cannot
    be decoded.
    """
    key = request.headers.get("X-Pusher-Key")
    signature = request.headers.get("X-Pusher-Signature")
    if not key or not signature:
        return None
    try:
        body = api.get_client().validate_webhook(key=key, signature=signature, body=request.body)
    except RecursionError:
        # The library decodes the JSON only once the signature matched: a signed
        # body nested deeper than the interpreter can decode is a bad request.
        raise InvalidWebhook("The webhook body is nested too deeply to decode.") from None
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
        # Non-UTF-8 bodies, non-ASCII signatures, JSON that is not an object.
        return None
    return body if isinstance(body, dict) else None


def _parse(channel: str) -> ParsedChannel | None:
    name = channel
    if channel.startswith(_ENCRYPTED_PREFIX):
        name = "private-" + channel[len(_ENCRYPTED_PREFIX) :]
    try:
        return parse_channel(name)
    except PusherableError:
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def dispatch_event(event: Any, *, time_ms: Any = None) -> bool:
    """Record and signal one webhook event; ``False`` when it is malformed or not handled."""
    if not isinstance(event, dict):
        return False
    name, channel = event.get("name"), event.get("channel")
    signal = EVENT_SIGNALS.get(name) if isinstance(name, str) else None
    if signal is None or not isinstance(channel, str) or not channel:
        logger.debug("pusherable: webhook event ignored: %.200r", event)
        return False
    parsed = _parse(channel)
    kwargs: dict[str, Any] = {
        "channel": channel,
        "parsed_channel": parsed,
        "model": parsed.model if parsed else None,
        "pk": parsed.pk if parsed else None,
        "time_ms": time_ms,
    }
    user_id = _text(event.get("user_id"))
    if name in ("member_added", "member_removed"):
        if user_id is None:
            logger.debug("pusherable: %s webhook without user_id ignored", name)
            return False
        if name == "member_added":
            presence.track_member_added(
                channel, user_id, time_ms=time_ms if isinstance(time_ms, int) else None
            )
        else:
            presence.track_member_removed(channel, user_id)
        kwargs["user_id"] = user_id
    elif name == "channel_vacated":
        presence.forget_channel(channel)
    elif name == "client_event":
        kwargs.update(
            event=event.get("event"),
            data=event.get("data"),
            socket_id=event.get("socket_id"),
            user_id=user_id,
        )
    sender = parsed.model if parsed else None
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "pusherable: %s receiver %r raised",
                name,
                receiver,
                exc_info=(type(result), result, result.__traceback__),
            )
    return True


def dispatch(payload: dict[str, Any]) -> int:
    """Handle every event of a verified webhook body; return how many were handled."""
    presence.mark_webhooks_seen()
    events = payload.get("events")
    if not isinstance(events, list):
        return 0
    time_ms = payload.get("time_ms")
    return sum(dispatch_event(event, time_ms=time_ms) for event in events)
