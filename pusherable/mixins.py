"""Class-based view mixins that trigger events on the object's channel.

Put the mixin first, before the Django view it extends::

    class ArticleUpdateView(PusherUpdateMixin, UpdateView):
        model = Article
        fields = ["title", "body", "tags"]

==========================  =====================================  ==========================
mixin                       when the page renders                  after a successful write
==========================  =====================================  ==========================
:class:`PusherDetailMixin`  ``view``                               -
:class:`PusherUpdateMixin`  ``update`` (GET, invalid POST)         ``updated`` (if changed)
:class:`PusherDeleteMixin`  ``delete`` (confirmation page)         ``deleted`` (snapshot)
:class:`PusherCreateMixin`  -                                      ``created``
:class:`PusherMixin`        ``pusher_event_name``, when set        -
==========================  =====================================  ==========================

Every event goes through :func:`pusherable.delivery.send_event`, so it leaves after
the transaction commits and never if it rolls back. Each step is a public method
to override; a fault in any of them is logged, never raised into the page.

Write events (``created``, ``updated``, ``deleted``; see
:data:`PUSHERABLE_MODEL_CHANNEL_EVENTS`) also go to the model's channel, so that
list pages update live. :class:`PusherUpdateMixin` merges a save made from a form
older than the object with the stored one, field by field, and refuses only true
conflicts (the collision guard, :mod:`pusherable.guard`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponse

from .channels import channel_for, channel_for_model
from .dbretry import (
    DATABASE_BUSY_MESSAGE,
    DatabaseBusy,
    busy_delay,
    is_database_busy,
    run_retrying,
)
from .delivery import (
    RENDER_EVENTS,
    SOCKET_ID_HEADER,
    model_channel_events,
    request_socket_id,
    send_event,
)
from .events import Event
from .guard import (
    changed_field_values,
    changed_form_fields,
    fetch_stored,
    form_labels,
    install_version_field,
    merge_message,
    merge_submitted_form,
    refuse_conflicts,
    refuse_deleted,
    submitted_token,
    who_changed,
)
from .history import record_change_on_commit
from .merge import MergeResult, apply_merge
from .payload import build_payload, changed_values
from .users import request_user
from .versions import object_version

if TYPE_CHECKING:
    from django.forms import BaseForm
    from django.views.generic.base import TemplateResponseMixin, View
    from django.views.generic.edit import DeletionMixin, FormMixin

    class _ViewBase(TemplateResponseMixin, View):
        pass

    class _FormViewBase(FormMixin, _ViewBase):
        pass

    class _DeleteViewBase(DeletionMixin, _FormViewBase):
        pass

else:
    _ViewBase = _FormViewBase = _DeleteViewBase = object

__all__ = [
    "SOCKET_ID_HEADER",
    "PusherCreateMixin",
    "PusherDeleteMixin",
    "PusherDetailMixin",
    "PusherMixin",
    "PusherUpdateMixin",
]

logger = logging.getLogger("pusherable")


class PusherMixin(_ViewBase):
    """Trigger ``pusher_event_name`` on the object's channel when the view renders.

    Works with any view that sets ``self.object`` before rendering, as the
    original django-pusherable did. The steps, each a method to override:
    :meth:`should_send_pusher_event`, :meth:`get_pusher_channels_for` (by default
    :meth:`get_pusher_channels`), :meth:`get_pusher_payload`,
    :meth:`get_pusher_socket_id` and :meth:`get_pusher_user`.
    """

    #: Event triggered when the view renders; ``None`` sends nothing on render.
    pusher_event_name: str | None = None
    #: Model fields the payload's ``object`` is limited to (``None``: every editable field).
    pusher_include_model_fields: Sequence[str] | None = None
    #: Model fields left out of the payload's ``object``.
    pusher_exclude_model_fields: Sequence[str] | None = None
    #: ``"private"``, ``"presence"`` or ``"public"``; ``None`` follows ``PUSHERABLE_CHANNEL_TYPE``.
    pusher_channel_type: str | None = None
    #: Events also sent to the model's channel; ``None`` follows
    #: ``PUSHERABLE_MODEL_CHANNEL_EVENTS``, ``()`` sends none there. Render events never go.
    pusher_model_channel_events: Collection[str] | None = None
    #: Type of the model's channel; ``None`` follows ``PUSHERABLE_MODEL_CHANNEL_TYPE``
    #: (see :func:`pusherable.channels.model_channel_type`), as
    #: ``{% pusherable_subscribe ... model=... %}`` does.
    pusher_model_channel_type: str | None = None

    request: HttpRequest

    # -- what to send ---------------------------------------------------------------

    def get_pusher_object(self) -> models.Model | None:
        """The object events are about: ``self.object`` by default."""
        return getattr(self, "object", None)

    def get_pusher_event_name(self) -> str | None:
        """The event triggered when the view renders (``pusher_event_name``)."""
        return self.pusher_event_name

    def get_pusher_channels(self) -> list[str]:
        """The channels of the object: ``[channel_for(object)]``, or ``[]`` without one."""
        obj = self.get_pusher_object()
        if obj is None or obj.pk is None:
            return []
        return [channel_for(obj, self.pusher_channel_type)]

    def get_pusher_channels_for(self, event: str) -> list[str]:
        """The channels ``event`` goes to: :meth:`get_pusher_channels`, plus
        :meth:`get_pusher_model_channels`.

        Override this (rather than :meth:`get_pusher_channels`, which also names
        what a page subscribes to) to send some events to more channels.
        """
        channels = self.get_pusher_channels()
        if event in RENDER_EVENTS:
            return channels  # never to the model's channel (see get_pusher_model_channels)
        return channels + self.get_pusher_model_channels(event)

    def get_pusher_model_channels(self, event: str) -> list[str]:
        """The model's channel when ``event`` is one of its events, else ``[]``.

        Which events: ``pusher_model_channel_events``, else
        ``PUSHERABLE_MODEL_CHANNEL_EVENTS``; never a render event (``view``,
        ``update``, ``delete``, nor the view's ``pusher_event_name``).
        """
        # Render events never go (the answer on every page view): known without
        # reading the setting and building the set of events.
        if event in RENDER_EVENTS or event == self.get_pusher_event_name():
            return []
        obj = self.get_pusher_object()
        if obj is None or obj.pk is None:
            return []
        if event not in model_channel_events(self.pusher_model_channel_events):
            return []
        return [channel_for_model(obj, self.pusher_model_channel_type)]

    def get_pusher_user(self) -> Any:
        """The user named in payloads: ``request.user``, or ``None``.

        An anonymous request without a session is recognised without reading the
        session (see :func:`pusherable.users.request_user`), so that a page that
        does not show the user does not look it up only for the event.
        """
        return request_user(self.request)

    def get_pusher_socket_id(self) -> str | None:
        """The sender's socket id, so that its own tab is left out of the delivery.

        Read from the ``X-Socket-ID`` header, else from the POST field named by
        ``PUSHERABLE_SOCKET_ID_FIELD``; a malformed value is ignored.
        """
        return request_socket_id(self.request)

    def get_pusher_payload(self, event: str) -> dict[str, Any]:
        """The ``data`` of ``event``: see :func:`pusherable.payload.build_payload`."""
        obj = self.get_pusher_object()
        assert obj is not None  # should_send_pusher_event() returned False otherwise
        return build_payload(
            obj,
            event,
            user=self.get_pusher_user(),
            fields=self.pusher_include_model_fields,
            exclude=self.pusher_exclude_model_fields,
        )

    def should_send_pusher_event(self, event: str) -> bool:
        """Whether to send ``event`` at all; by default, whenever there is a saved object."""
        obj = self.get_pusher_object()
        return obj is not None and obj.pk is not None

    # -- how it is sent -------------------------------------------------------------

    def get_pusher_event(self, event: str) -> Event | None:
        """Build the :class:`~pusherable.events.Event` for ``event``, or ``None`` to skip it.

        Runs every hook above but sends nothing, so that an event can be built
        before the change it describes (the ``deleted`` snapshot) and sent after.
        """
        if not self.should_send_pusher_event(event):
            return None
        channels = self.get_pusher_channels_for(event)
        if not channels:
            return None
        if len(channels) > 1:
            # A subclass may add a channel the default already has: send once to each.
            channels = list(dict.fromkeys(channels))
        return Event(channels, event, self.get_pusher_payload(event), self.get_pusher_socket_id())

    def prepare_pusher_event(self, event: str) -> Event | None:
        """:meth:`get_pusher_event`, with any error logged instead of raised."""
        try:
            return self.get_pusher_event(event)
        except Exception:
            logger.exception("pusherable: could not build event %r in %s", event, type(self))
            return None

    def send_pusher_event(self, event: str | Event | None) -> Event | None:
        """Send an event (by name, or built by :meth:`prepare_pusher_event`); never raises.

        A request sends one event per (channel, event name) at most: a channel
        that already got this event in this request is skipped. Returns the
        event handed to delivery, or ``None`` when nothing was sent.
        """
        item = self.prepare_pusher_event(event) if isinstance(event, str) else event
        if item is None:
            return None
        sent: set[tuple[str, str]] | None = self.__dict__.get("_pusher_sent")
        if sent is None:
            sent = self.__dict__["_pusher_sent"] = set()
        name = item.name
        if sent:
            channels = [channel for channel in item.channels if (channel, name) not in sent]
            if not channels:
                return None
        else:
            channels = item.channels
        if len(channels) < len(item.channels):
            item = replace(item, channels=channels)
        try:
            result = send_event(item)
        except Exception:
            logger.exception("pusherable: could not send event %r in %s", name, type(self))
            return None
        for channel in channels:
            sent.add((channel, name))
        return result

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        event = self.get_pusher_event_name()
        if event:
            self.send_pusher_event(event)
        return super().render_to_response(context, **response_kwargs)


class PusherDetailMixin(PusherMixin):
    """Send ``view`` when the object's page renders."""

    pusher_event_name: str | None = "view"


class PusherUpdateMixin(PusherMixin, _FormViewBase):
    """Send ``update`` when the form renders, ``updated`` after a save that changed something.

    ``updated`` carries ``"changed"``: the new values of the fields in
    ``form.changed_data`` (see :meth:`get_pusher_changed_fields`), ``"previous"``:
    their old values, and ``"version"``/``"previous_version"``: the object's version
    token after and before the save. A form submitted without changes sends nothing.

    The collision guard (``pusher_collision_guard``, on by default) adds a hidden
    field with a signed snapshot of what the form shows, and merges a save made
    from an older version with the stored object, field by field
    (:meth:`merge_pusher_form`): changes to different fields all stand, and the
    user is told what was merged in (:meth:`report_pusher_merge`); a field
    changed by both to different values is refused with the other value shown
    (:meth:`refuse_pusher_conflicts`).
    """

    pusher_event_name: str | None = "update"
    #: Event sent after a successful save that changed something.
    pusher_updated_event_name = "updated"
    #: The names from :meth:`get_pusher_changed_fields`, once the form was saved.
    pusher_changed_fields: list[str] | None = None
    #: Merge saves made from a form older than the object, and refuse true conflicts.
    pusher_collision_guard = True
    #: Model field whose value is the version token (``None``: the model's ``auto_now``
    #: field, else a digest of the fields). See :meth:`get_pusher_version`.
    pusher_version_field: str | None = None
    #: Let ``pusherable.js`` show its own "changed by" notice in the form (else it
    #: only emits the ``pusherable:conflict`` event).
    pusher_collision_notice = True
    #: After a save: the version token before and after it, and ``{name: (old, new)}``.
    pusher_previous_version: str | None = None
    pusher_version: str | None = None
    pusher_changed_values: dict[str, Any] | None = None
    #: After a guarded save: what the merge kept of the user's and of others' changes.
    pusher_merge: MergeResult | None = None
    #: On a guarded POST: the values the fields outside the form had when loaded.
    pusher_loaded_values: dict[str, Any] | None = None

    def get_pusher_version(self, obj: models.Model) -> str:
        """The version token of ``obj``: see :func:`pusherable.versions.object_version`."""
        return object_version(obj, self.pusher_version_field)

    def get_form(self, form_class: Any = None) -> BaseForm:
        form = super().get_form(form_class)
        obj = self.get_pusher_object()
        if self.pusher_collision_guard and obj is not None and obj.pk is not None:
            install_version_field(
                form, obj, self.get_pusher_version(obj), notice=self.pusher_collision_notice
            )
            if form.is_bound:
                # What the fields outside the form held when the object was loaded,
                # so that a save does not write back values someone changed since.
                self.pusher_loaded_values = _outside_values(obj, form)
        return form

    def get_pusher_changed_fields(self, form: BaseForm) -> list[str]:
        """The names of the fields the save changed: ``form.changed_data``, less the
        version field and text that differs only in its line endings (see
        :func:`pusherable.guard.changed_form_fields`).

        An empty list sends no ``updated`` event.
        """
        return changed_form_fields(form)

    def get_pusher_payload(self, event: str) -> dict[str, Any]:
        payload = super().get_pusher_payload(event)
        if event == self.pusher_updated_event_name and self.pusher_changed_fields is not None:
            payload["changed"] = changed_values(
                payload.get("object", {}), self.pusher_changed_fields
            )
            values = self.pusher_changed_values or {}
            payload["previous"] = {
                name: values[name][0]
                for name in payload["changed"]
                if values.get(name) is not None
            }
            payload["version"] = self.pusher_version
            payload["previous_version"] = self.pusher_previous_version
        return payload

    # -- a busy database (see pusherable.dbretry) ---------------------------------------

    #: Times a POST the database was too busy for (a lock timeout, a deadlock) is
    #: run again before the form comes back with an error; ``0``: never.
    pusher_busy_retries = 3
    #: ``(first, longest)`` seconds to wait before those retries: doubling, with jitter.
    pusher_busy_backoff: tuple[float, float] = (0.05, 0.5)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """The view's POST, run again while the database is busy (its transaction rolled
        back), then refused with a form error (:meth:`refuse_pusher_busy_save`)."""
        handle = getattr(super(), "post", None)
        if handle is None:  # a view that takes no POST: as Django answers it
            return self.http_method_not_allowed(request, *args, **kwargs)
        try:
            return run_retrying(
                lambda: handle(request, *args, **kwargs),
                retries=self.pusher_busy_retries,
                delay=self.get_pusher_busy_delay,
                is_busy=self.is_pusher_database_busy,
            )
        except DatabaseBusy as busy:
            return self.refuse_pusher_busy_save(busy)

    def is_pusher_database_busy(self, exc: BaseException) -> bool:
        """Whether ``exc`` asks to try again (:func:`~pusherable.dbretry.is_database_busy`)."""
        return is_database_busy(exc)

    def get_pusher_busy_delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` of a busy save."""
        return busy_delay(attempt, self.pusher_busy_backoff)

    def refuse_pusher_busy_save(self, busy: DatabaseBusy) -> HttpResponse:
        """Answer a save the database stayed too busy for: the form again, holding
        what the user submitted, with :data:`~pusherable.dbretry.DATABASE_BUSY_MESSAGE`."""
        logger.warning("pusherable: a save was refused in %s: %s", type(self).__name__, busy)
        if (get_object := getattr(self, "get_object", None)) is not None:
            self.object = get_object()  # the failed tries changed the one in memory
        form = self.get_form()
        form.add_error(None, DATABASE_BUSY_MESSAGE)
        return self.form_invalid(form)

    def merge_pusher_form(self, form: BaseForm, stored: models.Model) -> MergeResult | None:
        """Merge the submitted form with ``stored`` (the object now), field by field.

        ``None`` when the form carried no snapshot (a client without the guard's
        field is not merged). See :func:`pusherable.guard.merge_submitted_form`.
        """
        obj = self.get_pusher_object()
        assert obj is not None
        return merge_submitted_form(
            form, obj, stored, current_version=self.get_pusher_version(stored)
        )

    def get_pusher_merge_authors(self, merge: MergeResult) -> dict[str, str]:
        """Field name -> the display name of who changed it since the form was rendered."""
        obj = self.get_pusher_object()
        assert obj is not None
        return who_changed(type(obj), obj.pk, merge.base_version)

    def refuse_pusher_conflicts(
        self, form: BaseForm, stored: models.Model, merge: MergeResult
    ) -> HttpResponse:
        """Answer a save with conflicts: the form again, merged, with the conflicts marked."""
        obj = self.get_pusher_object()
        assert obj is not None
        refuse_conflicts(
            form,
            obj,
            stored,
            merge,
            version=self.get_pusher_version(stored),
            labels=form_labels(form),
            who=self.get_pusher_merge_authors(merge),
        )
        return self.form_invalid(form)

    def refuse_pusher_deleted(self, form: BaseForm) -> HttpResponse:
        """Answer a save of an object deleted since the form was opened."""
        obj = self.get_pusher_object()
        assert obj is not None
        refuse_deleted(form, type(obj))
        return self.form_invalid(form)

    def report_pusher_merge(self, form: BaseForm, merge: MergeResult) -> None:
        """Tell the user what of others' changes their save kept ("Alice's new Title was
        kept"), with :mod:`django.contrib.messages` when it is installed."""
        obj = self.get_pusher_object()
        assert obj is not None
        message = merge_message(
            merge, type(obj), labels=form_labels(form), who=self.get_pusher_merge_authors(merge)
        )
        if message:
            from django.contrib import messages

            messages.info(self.request, message, fail_silently=True)

    def record_pusher_change(self, stored: models.Model | None, changed: list[str]) -> None:
        """Keep who changed what in the history the guard reads (once committed)."""
        obj = self.get_pusher_object()
        assert obj is not None
        version = self.pusher_version
        if version is None or version == self.pusher_previous_version:
            return
        record_change_on_commit(
            obj,
            previous_version=self.pusher_previous_version,
            version=version,
            user=self.get_pusher_user(),
            fields=dict(self.pusher_changed_values or {}),
        )

    def form_valid(self, form: BaseForm) -> HttpResponse:
        obj = self.get_pusher_object()
        if obj is None or obj.pk is None:
            return self.save_pusher_form(form, None)
        with transaction.atomic(using=router.db_for_write(type(obj), instance=obj)):
            # Locked until the save commits, so no other save slips in between.
            stored = fetch_stored(obj)
            if self.pusher_collision_guard:
                if stored is None:
                    if submitted_token(form) is not None:
                        return self.refuse_pusher_deleted(form)
                else:
                    merge = self.merge_pusher_form(form, stored)
                    if merge is not None and merge.has_conflicts:
                        return self.refuse_pusher_conflicts(form, stored, merge)
                    if merge is not None:
                        apply_merge(form, stored, merge)
                        self.pusher_merge = merge
                    _keep_outside_values(obj, stored, self.pusher_loaded_values)
            return self.save_pusher_form(form, stored)

    def save_pusher_form(self, form: BaseForm, stored: models.Model | None) -> HttpResponse:
        """Save (the view's own ``form_valid()``), then record and announce the change."""
        previous_version = None
        if stored is not None:
            try:
                previous_version = self.get_pusher_version(stored)
            except Exception:
                logger.exception("pusherable: could not compute the version in %s", type(self))
        response = super().form_valid(form)
        merge = self.pusher_merge
        if merge is not None:
            try:
                self.report_pusher_merge(form, merge)
            except Exception:
                logger.exception("pusherable: could not report the merge in %s", type(self))
        try:
            changed = self.get_pusher_changed_fields(form)
            if merge is not None:
                # A field the user left alone took the stored value: this save did not change it.
                changed = [name for name in changed if name not in merge.untouched]
            obj = self.get_pusher_object()
            if obj is not None and obj.pk is not None:
                self.pusher_previous_version = previous_version
                self.pusher_version = self.get_pusher_version(obj)
                self.pusher_changed_values = changed_field_values(
                    stored,
                    obj,
                    changed,
                    fields=self.pusher_include_model_fields,
                    exclude=self.pusher_exclude_model_fields,
                )
                self.record_pusher_change(stored, changed)
        except Exception:
            logger.exception("pusherable: could not list the changed fields in %s", type(self))
            return response
        if changed:
            self.pusher_changed_fields = changed
            self.send_pusher_event(self.pusher_updated_event_name)
        return response


class PusherCreateMixin(PusherMixin, _FormViewBase):
    """Send ``created`` on the new object's channel after it is saved."""

    #: Event sent after the object was created.
    pusher_created_event_name = "created"

    def form_valid(self, form: BaseForm) -> HttpResponse:
        response = super().form_valid(form)
        self.send_pusher_event(self.pusher_created_event_name)
        return response


class PusherDeleteMixin(PusherMixin, _DeleteViewBase):
    """Send ``delete`` when the confirmation page renders, ``deleted`` after the deletion.

    ``deleted`` carries the object as it was just before it was deleted: its
    payload is built first, and sent once the deletion went through.
    """

    pusher_event_name: str | None = "delete"
    #: Event sent after the object was deleted.
    pusher_deleted_event_name = "deleted"

    def form_valid(self, form: BaseForm) -> HttpResponse:
        # Django >= 4.0: a POST deletes in form_valid(), with self.object already loaded.
        snapshot = self.prepare_pusher_event(self.pusher_deleted_event_name)
        response = super().form_valid(form)
        self.send_pusher_event(snapshot)
        return response

    def delete(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # An HTTP DELETE goes through DeletionMixin.delete(), which loads the object
        # itself; load it here first so the snapshot exists before it is gone.
        self.object = self.get_object()  # type: ignore[attr-defined]
        snapshot = self.prepare_pusher_event(self.pusher_deleted_event_name)
        response = super().delete(request, *args, **kwargs)
        self.send_pusher_event(snapshot)
        return response


def _outside_values(obj: models.Model, form: BaseForm) -> dict[str, Any]:
    """``{attname: value}`` of ``obj``'s concrete fields that ``form`` does not edit."""
    return {
        field.attname: getattr(obj, field.attname)
        for field in obj._meta.concrete_fields
        if field.name not in form.fields and not field.primary_key
    }


def _keep_outside_values(
    obj: models.Model, stored: models.Model, loaded: dict[str, Any] | None
) -> None:
    """Take the stored value of each field outside the form that changed since ``obj`` was
    loaded, unless the view itself set it: a save then never writes back an old value
    of a field its user could not even edit (a concurrent save's slug, a script's
    ``QuerySet.update()``)."""
    if not loaded:
        return
    for attname, was in loaded.items():
        if getattr(obj, attname) == was:
            now = getattr(stored, attname)
            if now != was:
                setattr(obj, attname, now)
