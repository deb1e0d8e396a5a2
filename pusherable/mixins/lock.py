"""Lock mode of an edit view: one editor at a time (see :mod:`pusherable.locks`).

:class:`PusherEditLockMixin` is a base of
:class:`~pusherable.mixins.PusherUpdateMixin`; a view turns it on with
``pusher_edit_mode = "lock"``. The functions below are shared with the admin
(:class:`~pusherable.admin.PusherableAdminMixin`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django import forms
from django.db import models
from django.http import HttpRequest

from .. import locks
from ..channels import channel_for
from ..conf import settings
from ..encoding import encode_json
from ..exceptions import ConfigurationError, PusherableError
from ..users import request_user
from .base import _FormViewBase

if TYPE_CHECKING:
    from django.forms import BaseForm

__all__ = [
    "PusherEditLockMixin",
    "check_edit_mode",
    "lock_channel",
    "lock_context",
    "lock_is_mine",
    "locked_form_class",
    "make_read_only",
]

logger = logging.getLogger("pusherable")


def check_edit_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`pusherable.locks.EDIT_MODES`; else a configuration error."""
    if mode not in locks.EDIT_MODES:
        raise ConfigurationError(
            f"pusher_edit_mode must be one of {', '.join(locks.EDIT_MODES)}, not {mode!r}."
        )
    return mode


def lock_channel(obj: models.Model | None) -> str | None:
    """The presence channel whose lock guards ``obj``; ``None`` without one."""
    if obj is None or obj.pk is None:
        return None
    try:
        return channel_for(obj, "presence")
    except PusherableError:
        logger.exception("pusherable: no presence channel, so no edit lock, for %r", obj)
        return None


def lock_is_mine(lock: locks.EditLock | None, user: Any) -> bool:
    """Whether ``user`` holds ``lock``."""
    from ..members import member_id

    if lock is None or not getattr(user, "is_authenticated", False):
        return False
    return lock.holder_id == member_id(user)


def lock_context(
    channel: str,
    lock: locks.EditLock | None,
    user: Any,
    obj: models.Model,
    *,
    can_take_over: bool = False,
) -> dict[str, Any]:
    """What ``{% pusherable_lock %}`` renders: the banner and its state for
    ``pusherable-lock.js``."""
    from ..members import member_id

    me = member_id(user) if getattr(user, "is_authenticated", False) else None
    mine = lock_is_mine(lock, user)
    lease = float(lock.lease if lock is not None else settings.PUSHERABLE_LOCK_LEASE)
    state = {
        "channel": channel,
        "me": me,
        "mine": mine,
        "holder": None if lock is None else {"id": lock.holder_id, "name": lock.holder_name},
        "canTakeOver": bool(can_take_over and not mine and lock is not None),
        # A renewal every third of the lease: two can be lost before it ends.
        "renewEvery": round(lease * 1000 / 3),
        "asks": lock.as_json(me)["asks"] if lock is not None else [],
    }
    return {
        "channel": channel,
        "mine": mine,
        "holder_name": None if lock is None else lock.holder_name,
        "can_take_over": state["canTakeOver"],
        "verbose_name": obj._meta.verbose_name,
        "state_json": encode_json(state, ensure_ascii=True),
    }


def make_read_only(form: BaseForm) -> None:
    """Disable every field: the browser shows them read-only, and Django ignores
    whatever a POST sends for them."""
    for field in form.fields.values():
        field.disabled = True


def locked_form_class(
    form_class: type[forms.BaseForm], refusal: Callable[[], str | None]
) -> type[forms.BaseForm]:
    """``form_class`` whose ``clean()`` fails with ``refusal()`` when that is not ``None``."""

    class LockedForm(form_class):  # type: ignore[valid-type,misc]
        def clean(self) -> Any:
            cleaned = super().clean()
            message = refusal()
            if message:
                raise forms.ValidationError(message, code="pusherable_lock")
            return cleaned

    LockedForm.__name__ = form_class.__name__
    LockedForm.__qualname__ = form_class.__qualname__
    return LockedForm


class PusherEditLockMixin(_FormViewBase):
    """``pusher_edit_mode = "lock"``: the first editor holds the object's edit lock.

    The others get the form read-only (every field disabled) and a banner
    (``{% pusherable_lock %}``) naming the holder, with "Ask to edit" (and "Take
    over" for users with ``pusher_lock_takeover_permission``). A save by someone
    who does not hold the lock is refused with a form error. The lock ends when
    its holder's page is gone: see :mod:`pusherable.locks`.
    """

    #: ``"merge"`` (the default: everyone edits, stale saves are merged) or ``"lock"``.
    pusher_edit_mode = "merge"
    #: Permission (``"app.codename"``) that lets a user take the lock from its holder;
    #: ``None``: nobody may (they ask instead).
    pusher_lock_takeover_permission: str | None = None
    #: Seconds of the lease the holder's page renews; ``None``: ``PUSHERABLE_LOCK_LEASE``.
    pusher_lock_lease: float | None = None
    #: In lock mode, once the form was built: the lock as it stands, and whether the
    #: request's user holds it.
    pusher_lock: locks.EditLock | None = None
    pusher_lock_mine = False

    request: HttpRequest

    def get_pusher_lock_channel(self) -> str | None:
        """The channel whose lock guards the object: its presence channel."""
        return lock_channel(getattr(self, "object", None))

    def acquire_pusher_lock(self) -> locks.EditLock | None:
        """Take the lock, or learn who holds it (once per request)."""
        if "_pusher_lock_done" in self.__dict__:
            return self.pusher_lock
        self.__dict__["_pusher_lock_done"] = True
        channel = self.get_pusher_lock_channel()
        if channel is None:
            return None
        user = request_user(self.request)
        self.pusher_lock = locks.acquire(
            channel,
            user,
            lease=self.pusher_lock_lease,
            takeover_permission=self.pusher_lock_takeover_permission,
        )
        self.pusher_lock_mine = lock_is_mine(self.pusher_lock, user)
        return self.pusher_lock

    def uses_pusher_lock(self) -> bool:
        """Whether this request edits in lock mode (an existing object, ``"lock"``)."""
        if check_edit_mode(self.pusher_edit_mode) != "lock":
            return False
        return self.get_pusher_lock_channel() is not None

    def get_form(self, form_class: Any = None) -> BaseForm:
        form = super().get_form(form_class)
        if self.uses_pusher_lock():
            self.acquire_pusher_lock()
            if not self.pusher_lock_mine:
                make_read_only(form)
        return form

    def refuse_pusher_locked_save(self, form: BaseForm) -> Any:
        """Answer a save by someone who does not hold the lock: the form, with an error."""
        form.add_error(None, locks.lock_refused_message(self.pusher_lock))
        return self.form_invalid(form)

    def pusher_lock_refuses_save(self) -> bool:
        """Whether lock mode refuses this request's save."""
        if not self.uses_pusher_lock():
            return False
        self.acquire_pusher_lock()
        return not self.pusher_lock_mine

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        channel = self.get_pusher_lock_channel() if self.uses_pusher_lock() else None
        if channel is not None:
            self.acquire_pusher_lock()
            user = request_user(self.request)
            perm = self.pusher_lock_takeover_permission
            obj = getattr(self, "object", None)
            assert obj is not None
            can_take = perm is not None and (user.has_perm(perm) or user.has_perm(perm, obj))
            context["pusherable_lock"] = lock_context(
                channel, self.pusher_lock, user, obj, can_take_over=can_take
            )
        return context
