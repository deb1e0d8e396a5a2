"""A model form that merges a stale save with the stored object: the guard for any form.

Mix :class:`MergeFormMixin` into a ``ModelForm`` to give it the collision guard
of :class:`~pusherable.mixins.PusherUpdateMixin` wherever it is used (a function
view, a form wizard, the admin, which uses it too)::

    from pusherable.forms import MergeFormMixin

    class ArticleForm(MergeFormMixin, forms.ModelForm):
        class Meta:
            model = Article
            fields = ["title", "standfirst", "body"]

The form carries a signed snapshot of what it shows; ``is_valid()`` merges what
comes back with the stored object (see :mod:`pusherable.guard`): fields the user
left alone take the stored values, and a field changed by both sides to
different values becomes a form error. Call ``is_valid()`` and ``save()`` in one
transaction (``transaction.atomic()``, or ``ATOMIC_REQUESTS``), so that the
stored row stays locked from the merge to the save.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from .guard import (
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
from .merge import MergeResult, apply_merge
from .versions import object_version

if TYPE_CHECKING:
    from django.forms import ModelForm

    _FormBase = ModelForm
else:
    _FormBase = object

__all__ = ["MergeFormMixin"]


class MergeFormMixin(_FormBase):
    """A ``ModelForm`` mixin: a hidden snapshot field, and a three-way merge in ``clean()``.

    Every step is a method to override: :meth:`get_pusher_version`,
    :meth:`get_pusher_merge_authors`, :meth:`merge_pusher_form`.
    """

    #: Model field whose value is the version token (``None``: the ``auto_now`` field,
    #: else a digest of the fields).
    pusher_version_field: str | None = None
    #: Let ``pusherable.js`` show its built-in "changed by" notice in the form.
    pusher_collision_notice = True
    #: After ``clean()``: the object as stored before the save (``None`` if deleted).
    pusher_stored: models.Model | None = None
    #: After ``clean()``: the merge, when the form was merged and had no conflict.
    pusher_merge: MergeResult | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            install_version_field(
                self,
                self.instance,
                self.get_pusher_version(self.instance),
                notice=self.pusher_collision_notice,
            )

    def get_pusher_version(self, obj: models.Model) -> str:
        """The version token of ``obj``: see :func:`pusherable.versions.object_version`."""
        return object_version(obj, self.pusher_version_field)

    def get_pusher_merge_authors(self, merge: MergeResult) -> dict[str, str]:
        """Field name -> the display name of who changed it since the form was rendered."""
        return who_changed(type(self.instance), self.instance.pk, merge.base_version)

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.instance.pk is not None:
            self.merge_pusher_form()
        return cleaned

    def merge_pusher_form(self) -> None:
        """Merge with the stored object (locked when in a transaction), in ``clean()``.

        Fields the user left alone take the stored values; conflicting ones, and an
        object deleted since, become form errors. A form posted without the snapshot
        (an API client) is not merged.
        """
        instance = self.instance
        stored = self.pusher_stored = fetch_stored(instance)
        if submitted_token(self) is None:
            return
        if stored is None:
            refuse_deleted(self, type(instance))
            return
        version = self.get_pusher_version(stored)
        merge = merge_submitted_form(self, instance, stored, current_version=version)
        if merge is None:
            return
        if merge.has_conflicts:
            refuse_conflicts(
                self,
                instance,
                stored,
                merge,
                version=version,
                labels=form_labels(self),
                who=self.get_pusher_merge_authors(merge),
            )
            return
        apply_merge(self, stored, merge)
        self.pusher_merge = merge

    def pusher_merge_message(self) -> str | None:
        """What the save kept of others' changes ("Alice's new Title was kept..."), if any."""
        if self.pusher_merge is None:
            return None
        return merge_message(
            self.pusher_merge,
            type(self.instance),
            labels=form_labels(self),
            who=self.get_pusher_merge_authors(self.pusher_merge),
        )
