"""The update mixin: events around an edit form, and the three-way merge of stale saves."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponse

from ..dbretry import (
    DATABASE_BUSY_MESSAGE,
    DatabaseBusy,
    busy_delay,
    is_database_busy,
    run_retrying,
)
from ..guard import (
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
from ..history import record_change_on_commit
from ..merge import MergeResult, apply_merge, fields_outside_form, keep_changes_outside_form
from ..payload import changed_values
from ..versions import object_version
from .base import PusherMixin, _FormViewBase
from .lock import PusherEditLockMixin

if TYPE_CHECKING:
    from django.forms import BaseForm

__all__ = ["PusherUpdateMixin"]

logger = logging.getLogger("pusherable")


class PusherUpdateMixin(PusherEditLockMixin, PusherMixin, _FormViewBase):
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

    ``pusher_edit_mode = "lock"`` lets one editor at a time change the object
    instead (see :class:`~pusherable.mixins.lock.PusherEditLockMixin`).
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
                self.pusher_loaded_values = fields_outside_form(obj, form)
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
        if self.pusher_lock_refuses_save():
            return self.refuse_pusher_locked_save(form)
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
                    keep_changes_outside_form(obj, stored, self.pusher_loaded_values)
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
