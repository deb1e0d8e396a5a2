"""Pusher webhooks, checked and turned into Django signals (see :mod:`pusherable.signals`).

:func:`verify` checks a request the way Pusher signs it (HMAC-SHA256 of the raw
body with the app secret, the app key, a ``time_ms`` within five minutes);
:func:`dispatch` records presence (:mod:`pusherable.presence`) and sends one
signal per event.

Order
    The bundled server sends a channel's webhooks in order; soketi sends each one
    as its own concurrent request, so ``member_added`` may come before ``channel_occupied``
    and ``channel_vacated`` before the last ``member_removed``, and behind a load
    balancer several Django processes handle them at once. Presence is therefore
    recorded by each event's ``time_ms`` (when the server sent it): an event older
    than what is already recorded for that member (or than the channel's last
    ``channel_vacated``) changes nothing. One channel's events are applied one at
    a time, under a short lock in the presence cache (``cache.add``, atomic in
    Redis, Memcached and the database cache). Signals are sent for every event, in
    the order they arrive, each with its ``time_ms``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import caches
from django.dispatch import Signal
from django.http import HttpRequest

from . import presence, pusher_client, signals
from .channels import ParsedChannel, parse_channel
from .conf import settings
from .encoding import encode_json
from .exceptions import PusherableError
from .protocol_rules import ENCRYPTED_PREFIX, PRIVATE_PREFIX

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


_ORDER_KEY = "pusherable:webhooks:order:{}"
_LOCK_KEY = "pusherable:webhooks:lock:{}"
#: How long one event may hold a channel's lock (it expires by itself after that),
#: and how long another waits for it before going ahead anyway.
_LOCK_TIMEOUT = 5
_LOCK_WAIT = 2.0
#: Members who left are remembered this long (ms), to recognise a late ``member_added``:
#: pusher's ``validate_webhook`` refuses webhooks older than five minutes anyway.
_KEEP_LEFT_MS = 600_000


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
        body = pusher_client.get_client().validate_webhook(
            key=key, signature=signature, body=request.body
        )
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
    if channel.startswith(ENCRYPTED_PREFIX):
        name = PRIVATE_PREFIX + channel[len(ENCRYPTED_PREFIX) :]
    try:
        return parse_channel(name)
    except PusherableError:
        return None


def _sent_at(time_ms: Any) -> int:
    """The webhook's ``time_ms``, or now when it has none."""
    if isinstance(time_ms, int) and not isinstance(time_ms, bool):
        return time_ms
    return int(time.time() * 1000)


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _client_data(value: Any) -> Any:
    """The client event's ``data`` as the string the browser sent.

    Pusher sends that string; soketi sends it decoded (an object): it is encoded
    back, compactly, as pusher-js's ``JSON.stringify`` wrote it.
    """
    if value is None or isinstance(value, str):
        return value
    try:
        return encode_json(value)
    except (TypeError, ValueError):
        return None


@contextmanager
def _channel_lock(channel: str) -> Iterator[None]:
    """Apply one channel's webhook events one at a time, across processes."""
    cache = caches[settings.PUSHERABLE_PRESENCE_CACHE]
    key, token = _LOCK_KEY.format(channel), uuid.uuid4().hex
    deadline = time.monotonic() + _LOCK_WAIT
    while not cache.add(key, token, _LOCK_TIMEOUT):
        if time.monotonic() > deadline:
            # Better a rare lost update than a webhook that times out.
            logger.warning("pusherable: webhook lock on %r not released; going ahead", channel)
            break
        time.sleep(0.01)
    try:
        yield
    finally:
        if cache.get(key) == token:
            cache.delete(key)


def _record_presence(name: str, channel: str, user_id: str | None, time_ms: int) -> bool:
    """Apply a presence webhook unless a later one was applied; ``False`` if it is stale."""
    cache = caches[settings.PUSHERABLE_PRESENCE_CACHE]
    ttl = int(settings.PUSHERABLE_PRESENCE_TTL)
    with _channel_lock(channel):
        key = _ORDER_KEY.format(channel)
        order = cache.get(key) or {}
        users: dict[str, list[Any]] = dict(order.get("users") or {})
        vacated = int(order.get("vacated") or 0)
        applied = True
        if name == "channel_vacated":
            vacated = max(vacated, time_ms)
            # Everyone whose last news is older left; anyone who joined since stays.
            for member in presence.tracked_member_ids(channel):
                if (users.get(member) or [0])[0] <= time_ms:
                    presence.track_member_removed(channel, member)
                    users[member] = [time_ms, False]
            if not presence.tracked_member_ids(channel):
                presence.forget_channel(channel)
        elif user_id is not None:
            last = users.get(user_id)
            if (last is not None and last[0] > time_ms) or (
                name == "member_added" and vacated > time_ms
            ):
                applied = False
            elif name == "member_added":
                presence.track_member_added(channel, user_id, time_ms=time_ms)
                users[user_id] = [time_ms, True]
            else:
                presence.track_member_removed(channel, user_id)
                users[user_id] = [time_ms, False]
        horizon = time_ms - _KEEP_LEFT_MS
        users = {u: v for u, v in users.items() if v[1] or v[0] >= horizon}
        cache.set(key, {"users": users, "vacated": vacated}, ttl)
    if not applied:
        logger.debug("pusherable: %s of %s on %r arrived after later news", name, user_id, channel)
    return applied


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
        applied = _record_presence(name, channel, user_id, _sent_at(time_ms))
        kwargs["user_id"] = user_id
        # soketi posts each webhook on its own, so a reload's member_removed may come
        # after the member_added that followed it: receivers that act on presence
        # (the edit lock) must not take old news for the latest.
        kwargs["stale"] = not applied
    elif name == "channel_vacated":
        _record_presence(name, channel, None, _sent_at(time_ms))
    elif name == "client_event":
        kwargs.update(
            event=event.get("event"),
            data=_client_data(event.get("data")),
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
