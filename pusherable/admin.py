"""Presence, live changes and the collision guard in the Django admin.

Mix :class:`PusherableAdminMixin` into a ``ModelAdmin``, before it::

    from django.contrib import admin
    from pusherable.admin import PusherableAdminMixin

    @admin.register(Article)
    class ArticleAdmin(PusherableAdminMixin, admin.ModelAdmin):
        list_display = ["title", "updated_at"]

The change form then shows who else has the object open ("alice is editing"),
a live notice when someone else saves it, and refuses a save made from a stale
form with an error naming who changed what (:mod:`pusherable.guard`). Saves and
deletions send ``updated``/``created``/``deleted`` after the transaction commits,
on the object's channel and on the model's, so the change list updates live.

The mixin sets ``change_form_template`` and ``change_list_template`` to templates
that extend the admin's own (``admin/change_form.html``, ``admin/change_list.html``).
A project that overrides those for a model can extend
``admin/pusherable/change_form.html`` instead.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.utils import unquote
from django.db import models, router
from django.http import HttpRequest, HttpResponse

from . import locks
from .channels import channel_for, channel_for_model
from .dbretry import (
    DATABASE_BUSY_MESSAGE,
    DatabaseBusy,
    busy_delay,
    is_database_busy,
    refusing_form,
    run_retrying,
)
from .delivery import model_channel_events, request_socket_id, send_event
from .events import Event
from .exposure import expose
from .forms import MergeFormMixin
from .guard import changed_field_values, changed_form_fields, fetch_stored
from .history import record_change_on_commit
from .mixins.lock import (
    check_edit_mode,
    lock_channel,
    lock_context,
    lock_is_mine,
    locked_form_class,
)
from .payload import build_payload
from .versions import object_version

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _AdminBase = ModelAdmin
else:
    _AdminBase = object

__all__ = ["PusherableAdminMixin"]

logger = logging.getLogger("pusherable")

#: The attribute of a bound admin form that holds the object as stored before the save
#: (:attr:`pusherable.forms.MergeFormMixin.pusher_stored`).
STORED_ATTRIBUTE = "pusher_stored"


class PusherableAdminMixin(_AdminBase):
    """Presence bar, live "changed by" notice, stale-save guard and events for a ``ModelAdmin``.

    Every step is a public method to override: :meth:`get_pusher_version`,
    :meth:`get_pusher_channels`, :meth:`get_pusher_payload`,
    :meth:`should_send_pusher_event`, :meth:`get_pusher_socket_id`.
    """

    change_form_template = "admin/pusherable/change_form.html"
    change_list_template = "admin/pusherable/change_list.html"

    #: Merge saves made from a change form older than the object; refuse true conflicts.
    pusher_collision_guard = True
    #: Model field used as the version token (``None``: ``auto_now`` field, else a digest).
    pusher_version_field: str | None = None
    #: Show who else has the change form open (a presence channel).
    pusher_presence = True
    #: Model fields the payloads are limited to / leave out (as in the view mixins).
    pusher_include_model_fields: Sequence[str] | None = None
    pusher_exclude_model_fields: Sequence[str] | None = None
    #: Type of the object's channel; ``None`` follows ``PUSHERABLE_CHANNEL_TYPE``.
    pusher_channel_type: str | None = None
    #: Events also sent to the model's channel; ``None`` follows
    #: ``PUSHERABLE_MODEL_CHANNEL_EVENTS``.
    pusher_model_channel_events: Collection[str] | None = None
    #: Type of the model's channel; ``None`` follows ``PUSHERABLE_MODEL_CHANNEL_TYPE``
    #: (see :func:`pusherable.channels.model_channel_type`).
    pusher_model_channel_type: str | None = None
    #: Event names sent after a change, an addition and a deletion.
    pusher_updated_event_name = "updated"
    pusher_created_event_name = "created"
    pusher_deleted_event_name = "deleted"
    #: ``"merge"`` (everyone edits; stale saves merged) or ``"lock"`` (one editor at a
    #: time: the others see the object read-only; see :mod:`pusherable.locks`).
    pusher_edit_mode = "merge"
    #: Permission that lets a user take the lock over; ``None``: nobody may.
    pusher_lock_takeover_permission: str | None = None
    #: Seconds of the lock's lease; ``None``: ``PUSHERABLE_LOCK_LEASE``.
    pusher_lock_lease: float | None = None

    def __init__(self, model: type[models.Model], *args: Any, **kwargs: Any) -> None:
        super().__init__(model, *args, **kwargs)
        expose(model)  # its change form subscribes to the model's channels

    # -- the collision guard ------------------------------------------------------------

    def get_pusher_version(self, obj: models.Model) -> str:
        """The version token of ``obj``: see :func:`pusherable.versions.object_version`."""
        return object_version(obj, self.pusher_version_field)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and self.get_pusher_lock(request, obj) is not None:
            form_class = locked_form_class(  # type: ignore[assignment]
                form_class, lambda: self.pusher_lock_refusal(request, obj)
            )
        if obj is None or not self.pusher_collision_guard:
            return form_class
        return self.get_pusher_guarded_form(form_class)

    def get_pusher_guarded_form(self, form_class: type[forms.ModelForm]) -> type[forms.ModelForm]:
        """``form_class`` with :class:`~pusherable.forms.MergeFormMixin`: it carries the
        snapshot and merges a stale save in ``clean()``.

        The merge runs inside the admin's own transaction, with the stored row
        locked, so no other save slips in between the merge and this save.
        """
        admin = self

        class GuardedForm(MergeFormMixin, form_class):  # type: ignore[valid-type,misc]
            def get_pusher_version(self, obj: models.Model) -> str:
                return admin.get_pusher_version(obj)

        GuardedForm.__name__ = form_class.__name__
        GuardedForm.__qualname__ = form_class.__qualname__
        return GuardedForm

    def report_pusher_merge(self, request: HttpRequest, form: Any) -> None:
        """Tell the user what of others' changes the save kept ("Alice's new Title was kept")."""
        message = form.pusher_merge_message()
        if message:
            self.message_user(request, message, fail_silently=True)

    # -- a busy database (see pusherable.dbretry) ---------------------------------------

    #: Times a POST the database was too busy for (a lock timeout, a deadlock) is
    #: run again before the form comes back with an error; ``0``: never.
    pusher_busy_retries = 3
    #: ``(first, longest)`` seconds to wait before those retries: doubling, with jitter.
    pusher_busy_backoff: tuple[float, float] = (0.05, 0.5)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The admin's add and change view; a POST the database is too busy for is run
        again (the admin's transaction rolled back), then refused with a form error
        (:meth:`refuse_pusher_busy_save`)."""
        handle = super().changeform_view
        if object_id is not None and check_edit_mode(self.pusher_edit_mode) == "lock":
            self.acquire_pusher_lock(request, self.get_object(request, unquote(object_id)))
        if request.method != "POST":
            return handle(request, object_id, form_url, extra_context)
        try:
            return run_retrying(
                lambda: handle(request, object_id, form_url, extra_context),
                retries=self.pusher_busy_retries,
                delay=self.get_pusher_busy_delay,
                is_busy=self.is_pusher_database_busy,
            )
        except DatabaseBusy as busy:
            return self.refuse_pusher_busy_save(request, busy, object_id, form_url, extra_context)

    def is_pusher_database_busy(self, exc: BaseException) -> bool:
        """Whether ``exc`` asks to try again (:func:`~pusherable.dbretry.is_database_busy`)."""
        return is_database_busy(exc)

    def get_pusher_busy_delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` of a busy save."""
        return busy_delay(attempt, self.pusher_busy_backoff)

    def refuse_pusher_busy_save(
        self,
        request: HttpRequest,
        busy: DatabaseBusy,
        object_id: str | None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Answer a save the database stayed too busy for: the change form again,
        holding what the user submitted, with
        :data:`~pusherable.dbretry.DATABASE_BUSY_MESSAGE`; nothing is saved.

        The form is rendered by the admin's own view, through a copy of this admin
        whose forms always fail validation with that error, and outside the
        transaction the admin opens for a save: a busy SQLite database would
        refuse to open that one too.
        """
        logger.warning("pusherable: a save was refused in %s: %s", type(self).__name__, busy)
        refusing = copy.copy(self)
        get_form = self.get_form

        def get_refusing_form(request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
            return refusing_form(get_form(request, obj, **kwargs), DATABASE_BUSY_MESSAGE)

        refusing.get_form = get_refusing_form  # type: ignore[method-assign,assignment]
        # The admin's view without its transaction.atomic() (Django 4.2 to 6.0).
        view = refusing._changeform_view  # type: ignore[attr-defined]
        return view(request, object_id, form_url, extra_context)

    # -- lock mode (see pusherable.locks) -------------------------------------------------

    def acquire_pusher_lock(self, request: HttpRequest, obj: Any) -> None:
        """Take the lock of ``obj`` for the change form's user, or learn who holds it."""
        channel = lock_channel(obj)
        if channel is None or not super().has_change_permission(request, obj):
            return
        lock = locks.acquire(
            channel,
            request.user,
            lease=self.pusher_lock_lease,
            takeover_permission=self.pusher_lock_takeover_permission,
        )
        held = getattr(request, "_pusherable_locks", {})
        held[channel] = (lock, lock_is_mine(lock, request.user))
        request._pusherable_locks = held  # type: ignore[attr-defined]

    def get_pusher_lock(self, request: HttpRequest, obj: Any) -> tuple[Any, bool] | None:
        """``(lock, mine)`` once the change form took the lock of ``obj``; else ``None``."""
        channel = lock_channel(obj) if obj is not None else None
        return getattr(request, "_pusherable_locks", {}).get(channel)

    def pusher_lock_refusal(self, request: HttpRequest, obj: Any) -> str | None:
        """The form error of a save by someone who does not hold the lock, else ``None``."""
        state = self.get_pusher_lock(request, obj)
        if state is None or state[1]:
            return None
        return locks.lock_refused_message(state[0])

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = bool(super().has_change_permission(request, obj))
        state = self.get_pusher_lock(request, obj) if allowed else None
        # Shown read-only (no inputs, no save buttons) to those without the lock; a
        # POST goes on to the form, which refuses it with an error that says why.
        if state is not None and not state[1] and request.method != "POST":
            return False
        return allowed

    # -- what the templates need ---------------------------------------------------------

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        context.update(self.get_pusher_change_form_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_pusher_change_form_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        """Template context of the change form: channels, presence and intent."""
        if obj is None or obj.pk is None:
            return {"pusherable_enabled": False}
        try:
            presence_channel = channel_for(obj, "presence") if self.pusher_presence else None
            channel_for(obj, self.pusher_channel_type)  # a pk too long fails here, not in the tag
        except Exception:
            logger.exception("pusherable: no channel for %r in the admin", obj)
            return {"pusherable_enabled": False}
        editing = self.has_change_permission(request, obj)
        context: dict[str, Any] = {
            "pusherable_enabled": True,
            "pusherable_channel_type": self.pusher_channel_type,
            "pusherable_presence_channel": presence_channel,
            "pusherable_intent": "editing" if editing else "viewing",
        }
        lock = self.get_pusher_lock(request, obj)
        channel = lock_channel(obj)
        if lock is not None and channel is not None:
            perm = self.pusher_lock_takeover_permission
            user = request.user
            can_take = perm is not None and (user.has_perm(perm) or user.has_perm(perm, obj))
            context["pusherable_lock"] = lock_context(
                channel, lock[0], user, obj, can_take_over=can_take
            )
        return context

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        extra_context.setdefault(
            "pusherable_model_channel",
            channel_for_model(self.model, self.pusher_model_channel_type),
        )
        extra_context.setdefault("pusherable_model_channel_type", self.pusher_model_channel_type)
        return super().changelist_view(request, extra_context)

    # -- events --------------------------------------------------------------------------

    def get_pusher_socket_id(self, request: HttpRequest) -> str | None:
        """The sender's socket id (header, else form field), so its own tab hears nothing."""
        return request_socket_id(request)

    def get_pusher_channels(self, obj: models.Model, event: str) -> list[str]:
        """The object's channel, plus the model's for the events it carries."""
        channels = [channel_for(obj, self.pusher_channel_type)]
        if event in model_channel_events(self.pusher_model_channel_events):
            channels.append(channel_for_model(obj, self.pusher_model_channel_type))
        return list(dict.fromkeys(channels))

    def get_pusher_payload(
        self,
        request: HttpRequest,
        obj: models.Model,
        event: str,
        changed: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """The ``data`` of ``event``, as the view mixins build it."""
        return build_payload(
            obj,
            event,
            user=getattr(request, "user", None),
            fields=self.pusher_include_model_fields,
            exclude=self.pusher_exclude_model_fields,
            changed=changed,
        )

    def should_send_pusher_event(
        self, request: HttpRequest, obj: models.Model, event: str
    ) -> bool:
        """Whether to send ``event`` about ``obj``; always, by default."""
        return True

    def build_pusher_event(
        self,
        request: HttpRequest,
        obj: models.Model,
        event: str,
        changed: Iterable[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Event | None:
        """The event, built now (a deletion's snapshot) and sent later; ``None`` to skip it."""
        try:
            if not self.should_send_pusher_event(request, obj, event):
                return None
            data = self.get_pusher_payload(request, obj, event, changed)
            if extra:
                data.update(extra)
            # The size guard runs when the event is sent (send_event, deferred to
            # where its data is first read), where its JSON is kept for the backend
            # rather than encoded a second time.
            return Event(
                self.get_pusher_channels(obj, event),
                event,
                data,
                self.get_pusher_socket_id(request),
            )
        except Exception:
            logger.exception("pusherable: could not build event %r in %s", event, type(self))
            return None

    def send_pusher_events(self, events: Iterable[Event | None]) -> None:
        """Hand the events to delivery, after the commit; never raises."""
        using = router.db_for_write(self.model)
        for event in events:
            if event is None:
                continue
            try:
                send_event(event, using=using, defer_guard=True)
            except Exception:
                logger.exception("pusherable: could not send %r in %s", event.name, type(self))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change and getattr(form, STORED_ATTRIBUTE, None) is None:
            # Without the guard the form did not fetch it: the values before the save.
            try:
                setattr(form, STORED_ATTRIBUTE, fetch_stored(obj))
            except Exception:
                logger.exception("pusherable: could not load %r before saving it", obj)
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Many-to-many values are saved here: only now is the object complete.
        super().save_related(request, form, formsets, change)
        try:
            self.announce_pusher_save(request, form, change)
        except Exception:
            logger.exception("pusherable: could not announce the save in %s", type(self))

    def announce_pusher_save(self, request: HttpRequest, form: Any, change: bool) -> None:
        """Record the change for the guard and send ``updated`` or ``created``."""
        obj = form.instance
        if not change:
            self.send_pusher_events(
                [self.build_pusher_event(request, obj, self.pusher_created_event_name)]
            )
            return
        changed = changed_form_fields(form)
        merge = getattr(form, "pusher_merge", None)
        if merge is not None:
            # A field the user left alone took the stored value: this save did not change it.
            changed = [name for name in changed if name not in merge.untouched]
            self.report_pusher_merge(request, form)
        stored = getattr(form, STORED_ATTRIBUTE, None)
        previous_version = self.get_pusher_version(stored) if stored is not None else None
        version = self.get_pusher_version(obj)
        values = changed_field_values(
            stored,
            obj,
            changed,
            fields=self.pusher_include_model_fields,
            exclude=self.pusher_exclude_model_fields,
        )
        if version != previous_version:
            record_change_on_commit(
                obj,
                previous_version=previous_version,
                version=version,
                user=getattr(request, "user", None),
                fields=values,
                using=router.db_for_write(self.model),
            )
        if not changed:
            return
        previous = {name: pair[0] for name in changed if (pair := values.get(name)) is not None}
        event = self.build_pusher_event(
            request,
            obj,
            self.pusher_updated_event_name,
            changed,
            extra={"previous": previous, "version": version, "previous_version": previous_version},
        )
        self.send_pusher_events([event])

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        # The snapshot is taken first: after the deletion the object has no pk.
        event = self.build_pusher_event(request, obj, self.pusher_deleted_event_name)
        super().delete_model(request, obj)
        self.send_pusher_events([event])

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        events = [
            self.build_pusher_event(request, obj, self.pusher_deleted_event_name)
            for obj in queryset
        ]
        super().delete_queryset(request, queryset)
        self.send_pusher_events(events)
