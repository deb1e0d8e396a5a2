"""Who is on an object right now, known on the server, before the page's socket connects.

Two sources, chosen by ``PUSHERABLE_PRESENCE_SOURCE``:

``"webhooks"``
    The webhook receiver records ``member_added`` / ``member_removed`` /
    ``channel_vacated`` in Django's cache (``PUSHERABLE_PRESENCE_CACHE``), each
    channel's record kept for ``PUSHERABLE_PRESENCE_TTL`` seconds after its last
    change: no network I/O while rendering a page.
``"api"``
    The Pusher HTTP API's ``GET /channels/<name>/users``, with a short timeout
    (``PUSHERABLE_PRESENCE_TIMEOUT``); a fault is logged and answers "nobody".
``"auto"`` (default)
    Webhooks once the receiver has received one (within the TTL), else the API.

The user ids are mapped to users in one query, and each gets the ``user_info``
the presence channel would show (with the intent last declared on that channel).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ValidationError
from django.db import models

from . import pusher_client
from .channels import ParsedChannel, channel_for, decode_pk, parse_channel
from .conf import settings
from .exceptions import PusherableError
from .members import clean_intent, user_info_for
from .members import member_id as id_of

__all__ = [
    "PRESENCE_SOURCES",
    "Member",
    "api_member_ids",
    "forget_channel",
    "mark_webhooks_seen",
    "remember_intent",
    "track_member_added",
    "track_member_removed",
    "tracked_member_ids",
    "webhooks_seen",
    "who_is_here",
]

logger = logging.getLogger("pusherable")

PRESENCE_SOURCES = ("auto", "webhooks", "api")

_MEMBERS_KEY = "pusherable:presence:members:{}"
_INTENTS_KEY = "pusherable:presence:intents:{}"
_WEBHOOKS_SEEN_KEY = "pusherable:presence:webhooks-seen"


@dataclass(frozen=True)
class Member:
    """One user on a presence channel: ``id`` (as in pusher-js), the ``user`` and its ``info``."""

    id: str
    user: Any
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def intent(self) -> str | None:
        """The member's declared intent (``"viewing"``, ``"editing"``...), if known."""
        value = self.info.get("intent")
        return value if isinstance(value, str) else None


def _cache() -> BaseCache:
    return caches[settings.PUSHERABLE_PRESENCE_CACHE]


def _ttl() -> int:
    return int(settings.PUSHERABLE_PRESENCE_TTL)


# -- Tracking from webhooks and the endpoints ----------------------------------------
# Read-modify-write on one cache entry per channel: two webhooks for the same
# channel handled at the same instant can lose one update. The record is a hint for
# the first render; the browser's own presence list is exact once connected.


def track_member_added(channel: str, user_id: str, *, time_ms: int | None = None) -> None:
    """Record that ``user_id`` joined ``channel`` (a ``member_added`` webhook)."""
    cache = _cache()
    key = _MEMBERS_KEY.format(channel)
    members = dict(cache.get(key) or {})
    members.setdefault(user_id, time_ms if time_ms is not None else int(time.time() * 1000))
    cache.set(key, members, _ttl())
    cache.set(_WEBHOOKS_SEEN_KEY, True, _ttl())


def track_member_removed(channel: str, user_id: str) -> None:
    """Record that ``user_id`` left ``channel`` (a ``member_removed`` webhook)."""
    cache = _cache()
    key = _MEMBERS_KEY.format(channel)
    members = dict(cache.get(key) or {})
    members.pop(user_id, None)
    cache.set(key, members, _ttl())
    intents_key = _INTENTS_KEY.format(channel)
    intents = dict(cache.get(intents_key) or {})
    if intents.pop(user_id, None) is not None:
        cache.set(intents_key, intents, _ttl())
    cache.set(_WEBHOOKS_SEEN_KEY, True, _ttl())


def forget_channel(channel: str) -> None:
    """Forget everyone on ``channel`` (a ``channel_vacated`` webhook)."""
    cache = _cache()
    cache.delete_many([_MEMBERS_KEY.format(channel), _INTENTS_KEY.format(channel)])
    cache.set(_WEBHOOKS_SEEN_KEY, True, _ttl())


def mark_webhooks_seen() -> None:
    """Note that webhooks arrive, so ``"auto"`` trusts the tracked members."""
    _cache().set(_WEBHOOKS_SEEN_KEY, True, _ttl())


def remember_intent(channel: str, user_id: str, intent: str) -> None:
    """Record the intent ``user_id`` last declared on ``channel`` (authorization, intent)."""
    cache = _cache()
    key = _INTENTS_KEY.format(channel)
    intents = dict(cache.get(key) or {})
    if intents.get(user_id) != intent:
        intents[user_id] = intent
        cache.set(key, intents, _ttl())


def webhooks_seen() -> bool:
    """Whether webhooks arrived within ``PUSHERABLE_PRESENCE_TTL`` (``"auto"`` trusts them)."""
    return bool(_cache().get(_WEBHOOKS_SEEN_KEY))


def tracked_member_ids(channel: str) -> list[str]:
    """User ids on ``channel`` according to the webhooks, in order of arrival."""
    members = _cache().get(_MEMBERS_KEY.format(channel)) or {}
    return [user_id for user_id, _ in sorted(members.items(), key=lambda item: item[1])]


def api_member_ids(channel: str) -> list[str]:
    """User ids on ``channel`` according to the Pusher HTTP API; ``[]`` on any fault."""
    try:
        client = pusher_client.get_client(timeout=settings.PUSHERABLE_PRESENCE_TIMEOUT)
        answer = client.users_info(channel)
    except Exception as exc:  # a page must render even when Pusher cannot be reached
        logger.warning("pusherable: cannot list the users of %r: %s", channel, exc)
        return []
    users = answer.get("users") if isinstance(answer, dict) else None
    if not isinstance(users, list):
        logger.warning("pusherable: unexpected users answer for %r: %.200r", channel, answer)
        return []
    return [
        str(user["id"])
        for user in users
        if isinstance(user, dict) and isinstance(user.get("id"), (str, int))
    ]


# -- The question ---------------------------------------------------------------------


def _channel_name(target: models.Model | str) -> str:
    if isinstance(target, models.Model):
        return channel_for(target, "presence")
    return target


def _member_ids(channel: str, source: str) -> list[str]:
    if source not in PRESENCE_SOURCES:
        raise PusherableError(
            f"Unknown presence source {source!r}; choose one of {', '.join(PRESENCE_SOURCES)}."
        )
    if source == "auto":
        source = "webhooks" if webhooks_seen() else "api"
    return tracked_member_ids(channel) if source == "webhooks" else api_member_ids(channel)


def _users_by_member_id(member_ids: list[str]) -> dict[str, Any]:
    user_model = get_user_model()
    pk_field = user_model._meta.pk
    pks = []
    for member_id in member_ids:
        try:
            pks.append(pk_field.to_python(decode_pk(member_id)))
        except (ValidationError, ValueError, TypeError):
            logger.info("pusherable: presence member id %r names no user", member_id)
    if not pks:
        return {}
    return {id_of(user): user for user in user_model._default_manager.filter(pk__in=pks)}


def who_is_here(
    target: models.Model | str, *, source: str | None = None, exclude: Any = None
) -> list[Member]:
    """The members of an object's presence channel (or of a channel name) right now.

    ``exclude`` leaves out a user (e.g. ``request.user``, to show "who else").
    Users that no longer exist are left out. Never raises for a network fault.
    """
    channel = _channel_name(target)
    member_ids = _member_ids(channel, source or settings.PUSHERABLE_PRESENCE_SOURCE)
    if exclude is not None and getattr(exclude, "pk", None) is not None:
        excluded: str | None = id_of(exclude)
    else:
        excluded = None
    member_ids = list(dict.fromkeys(m for m in member_ids if m != excluded))
    users = _users_by_member_id(member_ids)
    intents = _cache().get(_INTENTS_KEY.format(channel)) or {}
    default_intent = clean_intent(None)
    parsed: ParsedChannel | None
    try:
        parsed = parse_channel(channel)
    except PusherableError:
        parsed = None
    obj = target if isinstance(target, models.Model) else None
    members = []
    for member_id in member_ids:
        user = users.get(member_id)
        if user is None:
            continue
        intent = intents.get(member_id, default_intent)
        try:
            info = user_info_for(user, channel=parsed, obj=obj, intent=intent)
        except PusherableError:
            info = {"intent": intent}
        members.append(Member(member_id, user, info))
    return members
