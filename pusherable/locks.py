"""The optional edit lock: one editor at a time on an object, released by presence.

A view (``pusher_edit_mode = "lock"``) or a ``ModelAdmin`` in lock mode calls
:func:`acquire` when it shows or saves the edit form. The first editor holds the
lock; the others get a read-only form naming the holder, and may ask for it
(:func:`ask`); the holder hands it over with one click (:func:`hand_over`); a user
with the lock's take-over permission takes it (:func:`take_over`). Every change
of holder triggers :data:`LOCK_EVENT` on the object's presence channel.

Where it lives
    Django's cache (``PUSHERABLE_LOCK_CACHE``), which must be shared by every
    Django process (Redis, Memcached, the database cache; not ``locmem`` once there
    are several processes). A lock is one entry per object whose cache timeout is
    its lease, so no lock needs cleaning up. Changes are serialized per object by a
    short mutex taken with ``cache.add()``, atomic on those backends: a check and
    the write that follows it (acquire, hand over, renew) cannot interleave with
    another process's. No database table, no migration.

How it ends without its editor (no lock outlives its editor)
    - The holder's page renews the lease (``PUSHERABLE_LOCK_LEASE`` seconds, a
      renewal every third of it) while it is open; a closed tab stops renewing,
      and the lock expires by itself at the end of the lease.
    - With webhooks, ``member_removed`` for the holder (their last tab left the
      presence channel) cuts the lease to the presence grace period
      (:func:`holder_left`): a reload keeps the lock, a closed tab loses it seconds
      later.
    - Without webhooks, a user who opens the form while someone else holds the
      lock asks the presence API whether the holder is still on the channel; a
      holder who is not, and has not renewed within the grace period, has left,
      and the lock goes to the newcomer (``reason: "abandoned"``). A fault of the
      API keeps the lock: it still ends with its lease.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.db import models
from django.dispatch import receiver

from . import presence, pusher_client
from .conf import settings
from .delivery import trigger
from .exceptions import AuthorizationError
from .signals import member_added, member_removed
from .users import display_name

__all__ = [
    "EDIT_MODES",
    "LOCK_ASK_EVENT",
    "LOCK_EVENT",
    "EditLock",
    "LockBusy",
    "LockRefused",
    "acquire",
    "ask",
    "get_lock",
    "hand_over",
    "holder_joined",
    "holder_left",
    "holds_lock",
    "lock_refused_message",
    "release",
    "renew",
    "take_over",
]

logger = logging.getLogger("pusherable")

#: ``pusher_edit_mode`` values: ``"merge"`` (the default), or ``"lock"``.
EDIT_MODES = ("merge", "lock")
#: Server events on the object's presence channel: who holds the lock now, and
#: who asks for it.
LOCK_EVENT = "pusherable:lock"
LOCK_ASK_EVENT = "pusherable:lock-ask"

_LOCK_KEY = "pusherable:lock:{}"
_MUTEX_KEY = "pusherable:lock-mutex:{}"
#: Seconds a crashed process can hold an object's mutex, and a request waits for it.
_MUTEX_TIMEOUT = 5
_MUTEX_WAIT = 2.0
#: A lock renewed this recently (or within the grace period, if longer) is never
#: taken as abandoned: its holder's page may not have joined the presence channel yet.
_JOIN_ALLOWANCE = 2.0


class LockRefused(AuthorizationError):
    """A lock action the user may not take (409: not the holder, no lock...)."""

    status = 409


class LockBusy(AuthorizationError):
    """The object's mutex stayed taken: another request is changing the lock."""

    status = 503


@dataclass(frozen=True)
class EditLock:
    """Who holds the lock of ``channel`` (an object's presence channel), and until when."""

    channel: str
    holder_id: str
    holder_name: str
    #: Epoch seconds: when the lease ends, and when it was last acquired or renewed.
    expires: float
    renewed: float
    lease: float
    #: Permission that lets another user take the lock (``None``: nobody may).
    takeover_permission: str | None = None
    #: Who asked for it since the holder took it: member id -> display name.
    asks: dict[str, str] = field(default_factory=dict)

    def passed_to(self, holder_id: str, holder_name: str, now: float) -> EditLock:
        """The same lock held by someone else from ``now``: a fresh lease, no asks."""
        return EditLock(
            self.channel,
            holder_id,
            holder_name,
            now + self.lease,
            now,
            self.lease,
            self.takeover_permission,
        )

    def as_json(self, user_id: str | None = None) -> dict[str, Any]:
        """What the page learns: the holder, whether it is ``user_id``, and (for the
        holder) who asked."""
        mine = user_id is not None and user_id == self.holder_id
        return {
            "holder": {"id": self.holder_id, "name": self.holder_name},
            "mine": mine,
            "asks": [{"id": key, "name": name} for key, name in self.asks.items()] if mine else [],
        }


def _cache() -> BaseCache:
    return caches[settings.PUSHERABLE_LOCK_CACHE]


def _grace() -> float:
    return float(settings.PUSHERABLE_PRESENCE_GRACE_PERIOD)


def _member(user: Any) -> tuple[str, str]:
    from .members import member_id

    return member_id(user), display_name(user) or str(user)


@contextlib.contextmanager
def _exclusive(channel: str) -> Iterator[BaseCache]:
    """Hold the object's mutex: ``cache.add()`` succeeds for one caller at a time."""
    cache = _cache()
    key = _MUTEX_KEY.format(channel)
    token = secrets.token_hex(8)
    deadline = time.monotonic() + _MUTEX_WAIT
    delay = 0.005
    while not cache.add(key, token, timeout=_MUTEX_TIMEOUT):
        if time.monotonic() >= deadline:
            raise LockBusy("The edit lock is being changed; try again.")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    try:
        yield cache
    finally:
        # Only our own: after _MUTEX_TIMEOUT another request may hold it.
        if cache.get(key) == token:
            cache.delete(key)


def _read(cache: BaseCache, channel: str, now: float) -> EditLock | None:
    record = cache.get(_LOCK_KEY.format(channel))
    if not isinstance(record, dict):
        return None
    try:
        lock = EditLock(channel=channel, **record)
    except TypeError:
        return None
    # Cache timeouts are whole seconds on some backends: the lease is exact here.
    return lock if lock.expires > now else None


def _write(cache: BaseCache, lock: EditLock, now: float) -> None:
    record = {
        "holder_id": lock.holder_id,
        "holder_name": lock.holder_name,
        "expires": lock.expires,
        "renewed": lock.renewed,
        "lease": lock.lease,
        "takeover_permission": lock.takeover_permission,
        "asks": dict(lock.asks),
    }
    timeout = max(1, math.ceil(lock.expires - now))
    cache.set(_LOCK_KEY.format(lock.channel), record, timeout=timeout)


def _announce(
    channel: str,
    lock: EditLock | None,
    previous: EditLock | None,
    reason: str,
    socket_id: str | None = None,
    *,
    at: float,
) -> None:
    def who(item: EditLock | None) -> dict[str, str] | None:
        return None if item is None else {"id": item.holder_id, "name": item.holder_name}

    # ``at``: when the change was made, under the object's mutex. A page orders what
    # it learns by it: an answer read before this change (a renewal that crossed
    # it) must not undo it when it arrives after the event.
    data = {"holder": who(lock), "previous": who(previous), "reason": reason, "at": at}
    # Not tied to a database write: the others learn it now.
    trigger(channel, LOCK_EVENT, data, socket_id=socket_id, on_commit=False)


def holder_present(channel: str, user_id: str) -> bool | None:
    """Whether ``user_id`` is on ``channel`` by the webhooks or the API; ``None``: unknown."""
    source = settings.PUSHERABLE_PRESENCE_SOURCE
    if source == "webhooks" or (source == "auto" and presence.webhooks_seen()):
        return user_id in presence.tracked_member_ids(channel)
    try:
        client = pusher_client.get_client(timeout=settings.PUSHERABLE_PRESENCE_TIMEOUT)
        answer = client.users_info(channel)
        users = answer["users"]
        return any(str(item.get("id")) == user_id for item in users)
    except Exception as exc:  # unknown: the lock stays until its lease ends
        logger.warning("pusherable: cannot tell who is on %r: %s", channel, exc)
        return None


def _abandoned(lock: EditLock, now: float) -> bool:
    if now - lock.renewed <= max(_grace(), _JOIN_ALLOWANCE):
        return False
    return holder_present(lock.channel, lock.holder_id) is False


# -- The state changes ----------------------------------------------------------------


def get_lock(channel: str) -> EditLock | None:
    """The lock of ``channel`` now, or ``None`` when nobody holds it."""
    return _read(_cache(), channel, time.time())


def holds_lock(channel: str, user: Any) -> bool:
    """Whether ``user`` holds the lock of ``channel`` now."""
    lock = get_lock(channel)
    return lock is not None and lock.holder_id == _member(user)[0]


def acquire(
    channel: str,
    user: Any,
    *,
    lease: float | None = None,
    takeover_permission: str | None = None,
    socket_id: str | None = None,
) -> EditLock | None:
    """Take the lock of ``channel`` for ``user`` if it is free, theirs or abandoned.

    Returns the lock as it stands: held by ``user`` (renewed), or by someone else.
    ``None`` only for an anonymous user, who never holds one.
    """
    if not getattr(user, "is_authenticated", False):
        return get_lock(channel)
    user_id, name = _member(user)
    lease = float(settings.PUSHERABLE_LOCK_LEASE if lease is None else lease)
    with _exclusive(channel) as cache:
        now = time.time()
        current = _read(cache, channel, now)
        if current is not None and current.holder_id != user_id and not _abandoned(current, now):
            return current
        if current is not None and current.holder_id == user_id:
            lock = replace(
                current,
                holder_name=name,
                expires=now + lease,
                renewed=now,
                lease=lease,
                takeover_permission=takeover_permission,
            )
            _write(cache, lock, now)
            return lock
        lock = EditLock(channel, user_id, name, now + lease, now, lease, takeover_permission)
        _write(cache, lock, now)
    _announce(channel, lock, current, "abandoned" if current else "acquired", socket_id, at=now)
    return lock


def renew(channel: str, user: Any) -> EditLock | None:
    """Extend ``user``'s lease (their open page does, every third of it).

    Returns the lock as it stands; it is not ``user``'s when they lost it.
    """
    user_id, _ = _member(user)
    with _exclusive(channel) as cache:
        now = time.time()
        current = _read(cache, channel, now)
        if current is None or current.holder_id != user_id:
            return current
        lock = replace(current, expires=now + current.lease, renewed=now)
        _write(cache, lock, now)
        return lock


def ask(channel: str, user: Any, *, socket_id: str | None = None) -> EditLock:
    """Ask the holder for the lock: :data:`LOCK_ASK_EVENT` reaches their page."""
    user_id, name = _member(user)
    with _exclusive(channel) as cache:
        now = time.time()
        current = _read(cache, channel, now)
        if current is None:
            raise LockRefused("Nobody holds the lock: reload the page to edit.")
        if current.holder_id == user_id:
            raise LockRefused("You hold the lock already.")
        lock = replace(current, asks={**current.asks, user_id: name})
        _write(cache, lock, now)
    trigger(
        channel,
        LOCK_ASK_EVENT,
        {"user": {"id": user_id, "name": name}, "holder_id": lock.holder_id},
        socket_id=socket_id,
        on_commit=False,
    )
    return lock


def hand_over(channel: str, user: Any, to: Any, *, socket_id: str | None = None) -> EditLock:
    """The holder gives the lock to ``to`` (a member id), who must have asked for it."""
    user_id, _ = _member(user)
    with _exclusive(channel) as cache:
        now = time.time()
        current = _read(cache, channel, now)
        if current is None or current.holder_id != user_id:
            raise LockRefused("You do not hold the lock.")
        if not isinstance(to, str) or to not in current.asks:
            raise LockRefused("The lock goes only to someone who asked for it.", status=400)
        lock = current.passed_to(to, current.asks[to], now)
        _write(cache, lock, now)
    _announce(channel, lock, current, "handover", socket_id, at=now)
    return lock


def take_over(
    channel: str, user: Any, obj: models.Model | None = None, *, socket_id: str | None = None
) -> EditLock:
    """Take the lock from its holder; needs the lock's take-over permission (else 403)."""
    user_id, name = _member(user)
    with _exclusive(channel) as cache:
        now = time.time()
        current = _read(cache, channel, now)
        if current is None:
            raise LockRefused("Nobody holds the lock: reload the page to edit.")
        if current.holder_id == user_id:
            return current
        perm = current.takeover_permission
        if not perm or not (user.has_perm(perm) or (obj is not None and user.has_perm(perm, obj))):
            raise AuthorizationError("You may not take the lock over.", status=403)
        lock = current.passed_to(user_id, name, now)
        _write(cache, lock, now)
    _announce(channel, lock, current, "takeover", socket_id, at=now)
    return lock


def release(channel: str, user: Any, *, socket_id: str | None = None) -> None:
    """The holder gives the lock up: the next editor to open the form gets it."""
    user_id, _ = _member(user)
    with _exclusive(channel) as cache:
        now = time.time()
        current = _read(cache, channel, now)
        if current is None or current.holder_id != user_id:
            raise LockRefused("You do not hold the lock.")
        cache.delete(_LOCK_KEY.format(channel))
    _announce(channel, None, current, "released", socket_id, at=now)


def holder_left(channel: str, user_id: str) -> None:
    """The holder's last tab left the channel: the lease ends after the grace period,
    so that a reload keeps the lock and a closed tab loses it."""
    with _exclusive(channel) as cache:
        now = time.time()
        current = _read(cache, channel, now)
        if current is None or current.holder_id != user_id:
            return
        lock = replace(current, expires=min(current.expires, now + _grace()))
        _write(cache, lock, now)


def holder_joined(channel: str, user_id: str) -> None:
    """The holder is on the channel again (back from a reload after a
    ``member_removed``): the full lease again."""
    with _exclusive(channel) as cache:
        now = time.time()
        current = _read(cache, channel, now)
        if current is None or current.holder_id != user_id:
            return
        lock = replace(current, expires=max(current.expires, now + current.lease), renewed=now)
        _write(cache, lock, now)


@receiver(member_removed, dispatch_uid="pusherable.locks.member_removed")
def _on_member_removed(*, channel: str, user_id: str, stale: bool = False, **kwargs: Any) -> None:
    if stale:  # the holder came back since: the lease must not end
        return
    try:
        holder_left(channel, user_id)
    except LockBusy:
        logger.warning("pusherable: lock of %r busy; it ends with its lease", channel)


@receiver(member_added, dispatch_uid="pusherable.locks.member_added")
def _on_member_added(*, channel: str, user_id: str, stale: bool = False, **kwargs: Any) -> None:
    if stale:  # the holder left since
        return
    try:
        holder_joined(channel, user_id)
    except LockBusy:
        logger.warning("pusherable: lock of %r busy; its holder's page renews it", channel)


def lock_refused_message(lock: EditLock | None) -> str:
    """The form error of a save refused because someone else holds the lock."""
    if lock is None:
        return "Your save was refused: you do not hold the edit lock. Reload the page to edit."
    return (
        f"Your save was refused: {lock.holder_name} is editing this and holds the edit "
        "lock. Ask them to hand it over, or wait until they leave."
    )
