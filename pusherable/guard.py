"""The collision guard: refuse a save made from a form older than the object.

An edit form carries a hidden field (:data:`PUSHERABLE_VERSION_FORM_FIELD`,
``pusherable_version``) with the version token of the object it was rendered
from (:mod:`pusherable.versions`). When the form comes back, the token is
compared with the stored object's; if they differ, someone saved in between and
the save is refused with a form error that names who changed what (from
:mod:`pusherable.history`). The user's input is kept, and the hidden field now
holds the current token: saving again overwrites, knowingly.

All of this happens on the server, so it works without JavaScript.
``pusherable.js`` only makes it live (see :doc:`/howto/collision-guard`).

:class:`~pusherable.mixins.PusherUpdateMixin` and
:class:`~pusherable.admin.PusherableAdminMixin` use these functions; a custom
view can too.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, router, transaction
from django.utils.text import capfirst

from .conf import settings
from .history import Change, changes_since
from .payload import json_safe, serialize_object

__all__ = [
    "Conflict",
    "changed_field_values",
    "changed_form_fields",
    "conflict_message",
    "describe_value",
    "fetch_stored",
    "find_conflict",
    "form_labels",
    "install_version_field",
    "refuse_stale_save",
    "submitted_version",
    "version_field_name",
]

#: Longest value quoted in a conflict message; longer ones are cut with an ellipsis.
MAX_QUOTED_LENGTH = 60


@dataclass(frozen=True)
class Conflict:
    """A form rendered from ``submitted_version`` came back after ``current_version``.

    ``changes`` are the recorded saves in between, oldest first (``[]`` when
    the history does not know them); ``deleted`` is true when the object is gone.
    """

    model: type[models.Model]
    pk: Any
    submitted_version: str
    current_version: str | None
    changes: list[Change] = field(default_factory=list)
    deleted: bool = False


def version_field_name(form: forms.BaseForm | None = None) -> str:
    """The name of the hidden version field (without the form's prefix)."""
    return str(settings.PUSHERABLE_VERSION_FORM_FIELD)


def install_version_field(
    form: forms.BaseForm,
    instance: models.Model,
    version: str,
    *,
    notice: bool = True,
    labels: Mapping[str, str] | None = None,
) -> forms.Field:
    """Add the hidden version field to ``form`` (an instance's own ``fields``) and return it.

    The input carries ``data-pusherable-version`` and the object's model and pk,
    which ``pusherable.js`` reads to tell a live conflict; ``notice`` adds
    ``data-pusherable-guard`` so that it also shows its built-in notice.
    ``labels`` (field name -> label, by default the form's own labels) let the
    notice name fields as the form does.
    """
    if labels is None:
        labels = form_labels(form)
    attrs = {
        "data-pusherable-version": "",
        "data-pusherable-model": instance._meta.label_lower,
        "data-pusherable-pk": json.dumps(json_safe(instance.pk)),
        "data-pusherable-labels": json.dumps(dict(labels), separators=(",", ":")),
    }
    if notice:
        attrs["data-pusherable-guard"] = ""
    version_field = forms.CharField(
        required=False, initial=version, widget=forms.HiddenInput(attrs=attrs)
    )
    form.fields[version_field_name(form)] = version_field
    return version_field


def submitted_version(form: forms.BaseForm) -> str | None:
    """The token the form was rendered from, or ``None`` when it did not send one."""
    if not form.is_bound:
        return None
    value = form.data.get(form.add_prefix(version_field_name(form)))
    if not isinstance(value, str) or not value:
        return None
    return value


def fetch_stored(instance: models.Model) -> models.Model | None:
    """The object as stored now, locked for update when inside a transaction.

    ``None`` when it no longer exists. The lock (on databases that have one)
    keeps a concurrent save from slipping between the check and the save.
    """
    model = type(instance)
    using = router.db_for_write(model, instance=instance)
    queryset = model._default_manager.using(using)
    if transaction.get_connection(using).in_atomic_block:
        queryset = queryset.select_for_update()
    return queryset.filter(pk=instance.pk).first()


def find_conflict(
    instance: models.Model,
    stored: models.Model | None,
    submitted: str | None,
    current_version: str | None,
) -> Conflict | None:
    """The conflict between a form's ``submitted`` token and the stored object, if any.

    No token (a client that does not send one) is no conflict: the guard
    protects forms, it does not break API clients.
    """
    if submitted is None:
        return None
    model = type(instance)
    if stored is None:
        return Conflict(model, instance.pk, submitted, None, deleted=True)
    if submitted == current_version:
        return None
    changes = changes_since(model, instance.pk, submitted)
    if changes and changes[-1].version == current_version and not any(c.fields for c in changes):
        # Only saves without changes since (an ``auto_now`` field moved, nothing else).
        return None
    return Conflict(model, instance.pk, submitted, current_version, changes)


def describe_value(value: Any) -> str:
    """A value as a conflict message quotes it: short, and readable for lists and blanks."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and not value:
        return "(none)"
    if isinstance(value, list):
        text = ", ".join(str(item) for item in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    if len(text) > MAX_QUOTED_LENGTH:
        text = text[: MAX_QUOTED_LENGTH - 1] + "…"
    return f"“{text}”"


def _label(model: type[models.Model], name: str, labels: Mapping[str, str] | None) -> str:
    if labels and name in labels:
        return str(labels[name])
    try:
        return str(capfirst(getattr(model._meta.get_field(name), "verbose_name", name)))
    except Exception:
        return name


def _choice_label(model: type[models.Model], name: str, value: Any) -> Any:
    """The label of ``value`` when the field has choices (“In review”, not “review”)."""
    if value is None or isinstance(value, (list, dict)):
        return value
    try:
        choices = getattr(model._meta.get_field(name), "flatchoices", None) or ()
    except FieldDoesNotExist:
        return value
    for key, label in choices:
        if key == value or json_safe(key) == value:
            return str(label)
    return value


def _describe_change(
    model: type[models.Model], change: Change, labels: Mapping[str, str] | None
) -> str:
    who = change.user or "someone"
    parts = []
    for name, values in change.fields.items():
        label = _label(model, name, labels)
        if values is None:
            parts.append(label)
        else:
            old, new = (_choice_label(model, name, value) for value in values)
            parts.append(f"{label} from {describe_value(old)} to {describe_value(new)}")
    if not parts:
        return f"{who} saved it"
    return f"{who} changed " + "; ".join(parts)


def conflict_message(conflict: Conflict, labels: Mapping[str, str] | None = None) -> str:
    """The form error of a refused save, naming who changed what when it is known."""
    name = str(conflict.model._meta.verbose_name)
    if conflict.deleted:
        return (
            f"This {name} was deleted since you opened this form, so your changes were not saved."
        )
    if conflict.changes:
        what = ", then ".join(
            _describe_change(conflict.model, change, labels) for change in conflict.changes
        )
        # Usernames keep their case; only a sentence that starts with "someone" is capitalized.
        if what.startswith("someone"):
            what = capfirst(what)
        head = f"{what}, since you opened this form."
    else:
        head = f"Someone else changed this {name} since you opened this form."
    return (
        f"{head} Your changes were not saved, so as not to overwrite theirs. Your edits are "
        "kept below: review them and save again to overwrite, or reload the page to start "
        "from the current version."
    )


def refuse_stale_save(
    form: forms.BaseForm, conflict: Conflict, labels: Mapping[str, str] | None = None
) -> str:
    """Add the conflict's error to ``form`` and move its token to the current version.

    Returns the message. With the new token in the form, submitting it again
    saves over the other change: the user has now been told about it.
    """
    message = conflict_message(conflict, labels)
    if conflict.current_version is not None and form.is_bound:
        data = form.data.copy()  # type: ignore[attr-defined]
        data[form.add_prefix(version_field_name(form))] = conflict.current_version
        form.data = data
    form.add_error(None, message)
    return message


def changed_field_values(
    before: models.Model | None,
    after: models.Model,
    names: Iterable[str],
    *,
    fields: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
) -> dict[str, tuple[Any, Any] | None]:
    """``{name: (old, new)}`` for the changed ``names``, as payloads serialize them.

    A field that payloads leave out (sensitive, excluded) maps to ``None``: it is
    named as changed, its values are not kept.
    """
    names = list(names)
    new = serialize_object(after, fields, exclude)
    old = serialize_object(before, fields, exclude) if before is not None else {}
    return {name: (old.get(name), new[name]) if name in new else None for name in names}


def _unify_line_endings(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _same_text(old: Any, new: Any) -> bool:
    """Whether two strings differ at most in their line endings."""
    if not isinstance(old, str) or not isinstance(new, str):
        return False
    return _unify_line_endings(old) == _unify_line_endings(new)


def _submitted_value(form: forms.BaseForm, name: str) -> Any:
    cleaned = getattr(form, "cleaned_data", None)
    if cleaned is not None and name in cleaned:
        return cleaned[name]
    bound = form[name]
    try:
        return bound.field.to_python(bound.data)
    except ValidationError:
        return bound.data


def changed_form_fields(form: forms.BaseForm) -> list[str]:
    """The names in ``form.changed_data`` whose value really changed.

    Leaves out the guard's own version field, and text whose only difference is
    its line endings: browsers send a textarea's line breaks as ``\\r\\n``, so
    Django reports an untouched multi-line text stored with ``\\n`` as changed.
    """
    hidden = version_field_name(form)
    names = []
    for name in form.changed_data:
        if name == hidden:
            continue
        if name in form.fields and _same_text(form[name].initial, _submitted_value(form, name)):
            continue
        names.append(name)
    return names


def form_labels(form: forms.BaseForm, names: Sequence[str] | None = None) -> dict[str, str]:
    """Field name -> label, as the form shows them."""
    return {
        name: str(bound.label if bound.label is not None else capfirst(name))
        for name, bound in form.fields.items()
        if names is None or name in names
    }
