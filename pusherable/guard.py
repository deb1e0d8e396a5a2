"""The collision guard: a stale edit form is merged with the stored object, field by field.

An edit form carries a hidden field (:data:`PUSHERABLE_VERSION_FORM_FIELD`,
``pusherable_version``) holding a signed snapshot of what it was rendered from:
the object's version token and a fingerprint of each field's value
(:mod:`pusherable.merge`). When the form comes back, its values (mine) are merged
with the stored object (theirs) against that snapshot (base):

- a field only the user changed is saved; a field only someone else changed keeps
  the stored value, and the user is told ("Alice's new Title was kept");
- a field both changed to different values is a conflict: nothing is saved, the
  form comes back holding the stored values of every field the user did not
  change and the user's values for the conflicting ones, each with an error that
  shows the other value (``pusherable.js`` adds a "use theirs" button). Its
  snapshot is now the stored object, so saving it again overwrites only what the
  user chose.

A save therefore never reverts a field its user did not change. All of it
happens on the server, with the stored row locked, so it works without JavaScript
and with any number of Django processes.

:class:`~pusherable.mixins.PusherUpdateMixin` and
:class:`~pusherable.admin.PusherableAdminMixin` use these functions; a custom
view can too (see :doc:`/howto/collision-guard`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from django import forms
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models, router, transaction
from django.utils.text import capfirst

from .conf import settings
from .encoding import encode_json
from .fields import field_attributes
from .history import changes_since
from .merge import (
    MergeResult,
    comparable,
    form_model_fields,
    merge_form,
    read_snapshot,
    rendered_form_values,
    sign_snapshot,
    snapshot_of,
    stored_form_values,
)
from .payload import is_sensitive_field, json_safe, serialize_object

__all__ = [
    "changed_field_values",
    "changed_form_fields",
    "conflict_summary",
    "describe_value",
    "fetch_stored",
    "form_data_value",
    "form_labels",
    "install_version_field",
    "merge_message",
    "merge_submitted_form",
    "refuse_conflicts",
    "refuse_deleted",
    "submitted_token",
    "version_field_name",
    "who_changed",
]

#: Longest value quoted in a message; longer ones are cut with an ellipsis.
MAX_QUOTED_LENGTH = 60

#: Who made a change when the history does not know.
SOMEONE = "someone else"


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

    Its value is the signed snapshot of what the form shows (computed only when an
    unbound form renders). The input carries ``data-pusherable-version`` (the
    version the form was rendered from) and the object's model and pk, which
    ``pusherable.js`` reads to merge colleagues' saves live; ``notice`` adds
    ``data-pusherable-guard`` so that it also shows its built-in notices.
    ``labels`` (field name -> label, by default the form's own labels) let the
    notices name fields as the form does.
    """
    if labels is None:
        labels = form_labels(form)
    names = form_model_fields(form, type(instance))
    shown_version = version
    if form.is_bound:
        snapshot = read_snapshot(submitted_token(form), instance)
        if snapshot is not None:
            shown_version = snapshot.version  # the form still shows that version

    def signed_snapshot() -> str:
        values = rendered_form_values(form, names)
        return sign_snapshot(snapshot_of(instance, version, form.fields, values))

    attrs = {
        "data-pusherable-version": shown_version,
        "data-pusherable-model": instance._meta.label_lower,
        "data-pusherable-pk": encode_json(json_safe(instance.pk), ensure_ascii=True),
        "data-pusherable-labels": encode_json(dict(labels), ensure_ascii=True),
    }
    # The form's own field names, signed, for "who is editing which field".
    attrs.update(field_attributes(form, instance))
    if notice:
        attrs["data-pusherable-guard"] = ""
    version_field = forms.CharField(
        required=False, initial=signed_snapshot, widget=forms.HiddenInput(attrs=attrs)
    )
    form.fields[version_field_name(form)] = version_field
    return version_field


def submitted_token(form: forms.BaseForm) -> str | None:
    """The snapshot token the form came back with, or ``None`` when it sent none."""
    if not form.is_bound:
        return None
    value = form.data.get(form.add_prefix(version_field_name(form)))
    if not isinstance(value, str) or not value:
        return None
    return value


def fetch_stored(instance: models.Model) -> models.Model | None:
    """The object as stored now, locked for update when inside a transaction.

    ``None`` when it no longer exists. The lock (on databases that have one)
    keeps a concurrent save from slipping between the merge and the save.
    """
    model = type(instance)
    using = router.db_for_write(model, instance=instance)
    queryset = model._default_manager.using(using)
    if transaction.get_connection(using).in_atomic_block:
        queryset = queryset.select_for_update()
    return queryset.filter(pk=instance.pk).first()


def merge_submitted_form(
    form: forms.BaseForm,
    instance: models.Model,
    stored: models.Model,
    *,
    current_version: str | None = None,
    names: Iterable[str] | None = None,
) -> MergeResult | None:
    """Merge a validated, guarded form with ``stored``; ``None`` when it sent no token.

    A client that sends no token (an API client) is not merged: the guard protects
    forms, it does not break other clients. A token that cannot be read (tampered
    with, or from another object) gives an unknown base: every field whose
    submitted value differs from the stored one conflicts, so nothing is lost.
    A bare version token (a form rendered before this library merged) equal to
    ``current_version`` means nothing changed since.
    """
    token = submitted_token(form)
    if token is None:
        return None
    snapshot = read_snapshot(token, instance)
    if snapshot is None and current_version is not None and token == current_version:
        names = form_model_fields(form, type(stored)) if names is None else list(names)
        snapshot = snapshot_of(
            instance, token, form.fields, stored_form_values(form, stored, names)
        )
    return merge_form(form, stored, snapshot, names=names)


def who_changed(model: type[models.Model], pk: Any, since: str | None) -> dict[str, str]:
    """Field name -> who last changed it since version ``since``, from the history."""
    if since is None:
        return {}
    who: dict[str, str] = {}
    for change in changes_since(model, pk, since):
        for name in change.fields:
            who[name] = change.who or SOMEONE
    return who


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
        text = encode_json(value, sort_keys=True, compact=False)
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


def _shown(
    form_field: forms.Field | None, model: type[models.Model], name: str, value: Any
) -> str:
    """A stored value as a message quotes it: related objects by their name, choices by label."""
    if isinstance(value, models.Model):
        value = str(value)
    elif isinstance(value, (list, tuple)):
        value = [str(item) if isinstance(item, models.Model) else item for item in value]
    elif isinstance(form_field, forms.FileField):
        value = getattr(value, "name", value) or None
    else:
        value = _choice_label(model, name, json_safe(value))
    return describe_value(value)


def form_data_value(form: forms.BaseForm, name: str, value: Any) -> str | list[str] | None:
    """``value`` as the browser submits it for field ``name``: a string, a list of
    strings (multiple choices), or ``None`` (an unchecked box, a file input).

    This is what ``pusherable.js``'s "use theirs" puts in the field.
    """
    form_field = form.fields[name]
    widget = form_field.widget
    if isinstance(widget, forms.FileInput):
        return None
    prepared = form_field.prepare_value(value)
    if isinstance(widget, forms.CheckboxInput):
        return "on" if widget.check_test(prepared) else None
    if getattr(widget, "allow_multiple_selected", False):
        return [str(item) for item in (prepared or ())]
    shown = widget.format_value(prepared)
    if isinstance(shown, list):  # a single select formats as a list of one
        shown = shown[0] if shown else ""
    return "" if shown is None else str(shown)


def _set_form_data(data: Any, form: forms.BaseForm, name: str, value: Any) -> None:
    """Put ``value`` into the POST data ``data`` as the browser would send it for ``name``."""
    key = form.add_prefix(name)
    widget = form.fields[name].widget
    if isinstance(widget, forms.FileInput):
        return  # a file input is never filled in again; an untouched one keeps the stored file
    if isinstance(widget, forms.MultiWidget):
        parts = widget.decompress(form.fields[name].prepare_value(value)) or ()
        suffixes = getattr(widget, "widgets_names", ())
        pairs = zip(suffixes, widget.widgets, strict=True)
        for (suffix, subwidget), part in zip(pairs, parts, strict=False):
            shown = subwidget.format_value(part)
            data[key + suffix] = "" if shown is None else str(shown)
        return
    submitted = form_data_value(form, name, value)
    if isinstance(submitted, list):
        data.setlist(key, submitted)
    elif submitted is None:
        data.pop(key, None)
    else:
        data[key] = submitted
    initial_key = form.add_initial_prefix(name)
    if initial_key in data:  # show_hidden_initial: the initial that came with it
        data[initial_key] = "" if submitted is None or isinstance(submitted, list) else submitted


def _sentence(text: str) -> str:
    # Display names keep their case; only "someone else" gets a capital.
    return capfirst(text) if text.startswith(SOMEONE) else text


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def merge_message(
    result: MergeResult,
    model: type[models.Model],
    *,
    labels: Mapping[str, str] | None = None,
    who: Mapping[str, str] | None = None,
) -> str | None:
    """What a merged save tells its user: "Alice's new Title was kept." (``None``: nothing
    of anyone else's was merged in)."""
    if not result.theirs:
        return None
    by_person: dict[str, list[str]] = defaultdict(list)
    for name in result.theirs:
        by_person[(who or {}).get(name) or SOMEONE].append(_label(model, name, labels))
    parts = [
        f"{person}'s new {names[0]}"
        if len(names) == 1
        else f"{person}'s changes to {_join(names)}"
        for person, names in by_person.items()
    ]
    verb = "was" if len(result.theirs) == 1 else "were"
    return _sentence(f"{_join(parts)} {verb} kept, with your changes.")


def conflict_summary(
    result: MergeResult,
    model: type[models.Model],
    *,
    labels: Mapping[str, str] | None = None,
    who: Mapping[str, str] | None = None,
) -> str:
    """The form error of a save refused for conflicts."""
    people = _join(sorted({(who or {}).get(name) or SOMEONE for name in result.conflicts}))
    fields = _join([_label(model, name, labels) for name in result.conflicts])
    return _sentence(
        f"{people} also changed {fields} since you opened this form, so nothing was saved yet. "
        "The form now holds the latest saved values, with your own changes kept. For each "
        "field marked below, keep yours or use theirs, then save again."
    )


def refuse_conflicts(
    form: forms.BaseForm,
    instance: models.Model,
    stored: models.Model,
    result: MergeResult,
    *,
    version: str,
    labels: Mapping[str, str] | None = None,
    who: Mapping[str, str] | None = None,
) -> str:
    """Turn ``form`` into the answer to a save refused for conflicts; return its message.

    Every field the user did not change now holds the stored value; each conflicting
    field keeps the user's value with an error that shows the stored one; the
    snapshot becomes the stored object (``version``), so that saving again
    overwrites only what the user chose. The version input carries
    ``data-pusherable-conflicts`` (field -> ``{"theirs", "data", "user"}``) for the
    "use theirs" buttons of ``pusherable.js``.
    """
    model = type(stored)
    if labels is None:
        labels = form_labels(form)
    names = [name for name in form_model_fields(form, model) if name in form.fields]
    # The merge read most of them already; only fields it did not compare are read here.
    theirs = {name: result.stored[name] for name in names if name in result.stored}
    theirs.update(stored_form_values(form, stored, [name for name in names if name not in theirs]))
    data = form.data.copy()  # type: ignore[attr-defined]
    for name in result.untouched:
        if name in theirs:
            _set_form_data(data, form, name, theirs[name])
    snapshot = snapshot_of(instance, version, form.fields, theirs)
    data[form.add_prefix(version_field_name(form))] = sign_snapshot(snapshot)
    form.data = data
    conflicts: dict[str, dict[str, Any]] = {}
    for name, conflict in result.conflicts.items():
        person = (who or {}).get(name) or SOMEONE
        if is_sensitive_field(name):
            # Named as changed, never shown (as in payloads and the history).
            conflicts[name] = {"theirs": None, "data": None, "user": person}
            what = f"{person} changed this since you opened the form. Save again to keep yours."
        else:
            shown = _shown(form.fields[name], model, name, conflict.theirs)
            conflicts[name] = {
                "theirs": shown,
                "data": form_data_value(form, name, conflict.theirs),
                "user": person,
            }
            what = (
                f"{person} changed this to {shown} since you opened the form. Save again "
                "to keep yours, or use theirs."
            )
        form.add_error(name, _sentence(what))
    widget = form.fields[version_field_name(form)].widget
    widget.attrs["data-pusherable-version"] = version
    widget.attrs["data-pusherable-conflicts"] = encode_json(conflicts, ensure_ascii=True)
    message = conflict_summary(result, model, labels=labels, who=who)
    form.add_error(None, message)
    return message


def refuse_deleted(form: forms.BaseForm, model: type[models.Model]) -> str:
    """Refuse the save of an object deleted since its form was opened; return the message."""
    name = str(model._meta.verbose_name)
    message = (
        f"This {name} was deleted since you opened this form, so your changes were not saved."
    )
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


def _same_text(old: Any, new: Any) -> bool:
    """Whether two strings differ at most in their line endings."""
    if not isinstance(old, str) or not isinstance(new, str):
        return False
    return bool(comparable(None, old) == comparable(None, new))


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
