"""A three-way merge of an edit form with the object as it is stored now.

Three values meet for every field of an edit form:

base
    the value the form was rendered from (kept in the form itself, see
    :class:`Snapshot`; never in a per-process cache, so it works with several
    Django processes);
mine
    the value the user submitted;
theirs
    the value stored now, after whatever other saves happened in between.

A field changed only by the user takes the user's value; a field changed only by
someone else keeps theirs; a field changed by both to different values is a
conflict. So a save never reverts a field its user did not change, and two
editors who change different fields both keep their changes.

Values are compared as the form sees them (:func:`comparable`): a foreign key by
its key, many-to-many fields as sets, text whatever its line endings, JSON
whatever its key order.

:func:`merge_values` merges plain mappings, for APIs and custom code;
:func:`merge_form` merges a validated Django form; :func:`apply_merge` makes
the form save the merged values. :mod:`pusherable.guard` builds the refusal of a
conflicting save on top of these.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core import signing
from django.core.exceptions import FieldDoesNotExist
from django.core.files import File
from django.db import models

from .encoding import encode_json

__all__ = [
    "FieldConflict",
    "MergeResult",
    "Snapshot",
    "apply_merge",
    "comparable",
    "fields_outside_form",
    "fingerprint",
    "form_model_fields",
    "keep_changes_outside_form",
    "merge_form",
    "merge_values",
    "read_snapshot",
    "rendered_form_values",
    "sign_snapshot",
    "snapshot_of",
    "stored_form_values",
]

#: Salt of the signed snapshot a guarded form carries.
SNAPSHOT_SALT = "pusherable.merge.snapshot"

# Sentinel for "the base is not known": every field then counts as changed by
# both sides, so only values that really differ conflict.
_UNKNOWN = object()


@dataclass(frozen=True)
class Snapshot:
    """What a form was rendered from: the object's version token, and a fingerprint
    of each field's value (:func:`fingerprint`), so that the form stays small
    whatever the size of the values.
    """

    model: str
    pk: str
    version: str
    fields: dict[str, str]

    def base_of(self, name: str) -> Any:
        """The fingerprint of ``name`` when the form was rendered, or an unknown base."""
        return self.fields.get(name, _UNKNOWN)


@dataclass(frozen=True)
class FieldConflict:
    """A field changed by both sides to different values."""

    name: str
    mine: Any
    theirs: Any


@dataclass
class MergeResult:
    """The outcome of a merge, by field name.

    ``mine``: changed by the user (and not to something else by the others), so
    the user's value is saved. ``theirs``: changed only by someone else, so the
    stored value is kept. ``conflicts``: changed by both to different values.
    ``untouched``: not changed by the user (``theirs`` is a part of it).
    """

    mine: list[str] = field(default_factory=list)
    theirs: list[str] = field(default_factory=list)
    conflicts: dict[str, FieldConflict] = field(default_factory=dict)
    untouched: list[str] = field(default_factory=list)
    #: The version token the form was rendered from, when it is known.
    base_version: str | None = None
    #: The stored values the merge compared with (:func:`stored_form_values`), kept so
    #: that applying or refusing it reads no related objects a second time.
    stored: dict[str, Any] = field(default_factory=dict)

    @property
    def has_conflicts(self) -> bool:
        return bool(self.conflicts)

    def values(self, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
        """The merged values: the user's where they changed something, theirs elsewhere."""
        merged = dict(theirs)
        merged.update({name: mine[name] for name in self.mine if name in mine})
        return merged


# -- comparing values --------------------------------------------------------------------


def _unify_line_endings(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _scalar(value: Any) -> Any:
    """A JSON-comparable form of one value."""
    if value is None:
        return ""  # Django's forms treat None and "" alike (Field.has_changed)
    if isinstance(value, models.Model):
        return str(value.pk)
    if isinstance(value, str):
        return _unify_line_endings(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, decimal.Decimal):
        # 1.5 and 1.50 are the same price.
        return "0" if value.is_zero() else format(value.normalize(), "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        # A form cleans into the current time zone; the database answers in UTC.
        return value.astimezone(datetime.timezone.utc).isoformat()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value.total_seconds())
    if isinstance(value, (dict, list, tuple)):
        return encode_json(value, sort_keys=True, compact=False)
    if isinstance(value, File):  # a stored file (FieldFile) or an upload: by its name
        return str(value.name or "")
    return str(value)


def comparable(form_field: forms.Field | None, value: Any) -> Any:
    """``value`` as it is compared in a merge, for a field of the given form field class.

    Two values that the form would show alike compare equal: a related object and
    its key, a queryset and a list of keys in another order, ``None`` and ``""``,
    text with ``\\r\\n`` and with ``\\n``, ``1.5`` and ``1.50``, JSON with its keys
    in another order.
    """
    if isinstance(form_field, forms.ModelMultipleChoiceField) or (
        form_field is None and isinstance(value, (list, tuple, set, models.QuerySet))
    ):
        items = form_field.prepare_value(value) if form_field is not None else value
        return sorted(str(_scalar(item)) for item in (items or ()))
    if isinstance(form_field, forms.ModelChoiceField):
        return str(_scalar(form_field.prepare_value(value)))
    if isinstance(form_field, forms.JSONField):
        return encode_json(value, sort_keys=True, compact=False)
    if isinstance(form_field, forms.BooleanField) and not isinstance(
        form_field, forms.NullBooleanField
    ):
        return bool(value)
    if isinstance(form_field, forms.FileField) and value is False:
        return ""  # the "clear" checkbox: no file
    if isinstance(form_field, forms.MultipleChoiceField):
        return sorted(str(_scalar(item)) for item in (value or ()))
    if isinstance(form_field, forms.CharField) and isinstance(value, str) and form_field.strip:
        value = value.strip()
    return _scalar(value)


def fingerprint(form_field: forms.Field | None, value: Any) -> str:
    """A short digest of :func:`comparable`, kept in the form instead of the value."""
    text = encode_json(comparable(form_field, value), sort_keys=True, compact=False)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


# -- the snapshot a form carries ---------------------------------------------------------


def snapshot_of(
    instance: models.Model,
    version: str,
    form_fields: Mapping[str, forms.Field],
    values: Mapping[str, Any],
) -> Snapshot:
    """The :class:`Snapshot` of ``values`` (field name -> value as the form shows it)."""
    return Snapshot(
        model=instance._meta.label_lower,
        pk=str(instance.pk),
        version=version,
        fields={name: fingerprint(form_fields.get(name), value) for name, value in values.items()},
    )


def sign_snapshot(snapshot: Snapshot) -> str:
    """The snapshot as a signed, compact string for a hidden input."""
    data = {"m": snapshot.model, "p": snapshot.pk, "v": snapshot.version, "f": snapshot.fields}
    return signing.dumps(data, salt=SNAPSHOT_SALT, compress=True)


def read_snapshot(token: str | None, instance: models.Model) -> Snapshot | None:
    """The snapshot in ``token`` when it is intact and was made for ``instance``, else ``None``."""
    if not token:
        return None
    try:
        data = signing.loads(token, salt=SNAPSHOT_SALT)
        snapshot = Snapshot(
            model=str(data["m"]),
            pk=str(data["p"]),
            version=str(data["v"]),
            fields={str(name): str(value) for name, value in dict(data["f"]).items()},
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if snapshot.model != instance._meta.label_lower or snapshot.pk != str(instance.pk):
        return None  # a token copied from another object's form
    return snapshot


# -- merging -----------------------------------------------------------------------------


def merge_values(
    base: Mapping[str, Any],
    mine: Mapping[str, Any],
    theirs: Mapping[str, Any],
    *,
    names: Iterable[str] | None = None,
    same: Callable[[str, Any, Any], bool] | None = None,
) -> MergeResult:
    """Merge ``mine`` into ``theirs`` against ``base``, field by field.

    For an API or custom code: ``base`` holds the values the client started from,
    ``mine`` what it sends, ``theirs`` what is stored now. ``names`` defaults to
    the keys of ``mine``; a name missing from ``base`` has an unknown base (it
    counts as changed on both sides, so it conflicts only where ``mine`` and
    ``theirs`` differ). ``same(name, a, b)`` compares two values (default:
    :func:`comparable` without a form field).
    """

    def default_same(name: str, left: Any, right: Any) -> bool:
        return bool(comparable(None, left) == comparable(None, right))

    equal = same or default_same
    result = MergeResult()
    for name in list(mine) if names is None else names:
        mine_value = mine.get(name)
        theirs_value = theirs.get(name)
        known = name in base
        mine_changed = not known or not equal(name, base[name], mine_value)
        theirs_changed = not known or not equal(name, base[name], theirs_value)
        _classify(result, name, mine_changed, theirs_changed, mine_value, theirs_value, equal)
    return result


def _classify(
    result: MergeResult,
    name: str,
    mine_changed: bool,
    theirs_changed: bool,
    mine_value: Any,
    theirs_value: Any,
    equal: Callable[[str, Any, Any], bool],
) -> None:
    if not mine_changed:
        result.untouched.append(name)
        if theirs_changed:
            result.theirs.append(name)
    elif theirs_changed and not equal(name, mine_value, theirs_value):
        result.conflicts[name] = FieldConflict(name, mine_value, theirs_value)
    else:
        result.mine.append(name)


def form_model_fields(form: forms.BaseForm, model: type[models.Model]) -> list[str]:
    """The form's fields that are editable fields of ``model``: those a merge covers.

    A form field of another name (a confirmation, a captcha) has no stored value to
    merge with; it is left to the form.
    """
    names = []
    for name in form.fields:
        try:
            model_field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if getattr(model_field, "concrete", False) or getattr(model_field, "many_to_many", False):
            names.append(name)
    return names


def stored_form_values(
    form: forms.BaseForm, stored: models.Model, names: Collection[str]
) -> dict[str, Any]:
    """The values of ``names`` in ``stored``, as the form would show and clean them.

    A foreign key is its related object, a many-to-many field the list of its
    objects, anything else the model field's value. Date-times lose their
    microseconds when the widget cannot show them, as a form's initial values do.
    """
    values = {}
    for name in names:
        model_field = stored._meta.get_field(name)
        if model_field.many_to_many:
            value: Any = list(getattr(stored, name).all())
        elif model_field.is_relation:
            value = getattr(stored, name)
        else:
            value = model_field.value_from_object(stored)  # type: ignore[union-attr]
        form_field = form.fields[name]
        if isinstance(value, (datetime.datetime, datetime.time)) and not getattr(
            form_field.widget, "supports_microseconds", True
        ):
            value = value.replace(microsecond=0)
        values[name] = value
    return values


def rendered_form_values(form: forms.BaseForm, names: Iterable[str]) -> dict[str, Any]:
    """The values an unbound form shows for ``names`` (its initial values)."""
    return {name: form[name].initial for name in names}


def _user_changed(form: forms.BaseForm, name: str, base: Any) -> bool | None:
    """Whether the user changed ``name``, when the form alone can tell; else ``None``."""
    form_field = form.fields[name]
    if form_field.disabled:
        return False  # the browser cannot change it; Django keeps the initial value
    if isinstance(form_field, forms.FileField):
        # No upload and no "clear": the user left the file alone, whatever the base.
        return bool(form_field.has_changed(None, form[name].data))
    if base is _UNKNOWN:
        return True
    return None


def merge_form(
    form: forms.BaseForm,
    stored: models.Model,
    snapshot: Snapshot | None,
    *,
    names: Iterable[str] | None = None,
) -> MergeResult:
    """Merge a validated form (mine) with ``stored`` (theirs) against ``snapshot`` (base).

    ``names`` defaults to :func:`form_model_fields`. Without a snapshot (the form
    did not carry a readable one) the base is unknown: fields whose submitted
    value differs from the stored one conflict.
    """
    if names is None:
        names = form_model_fields(form, type(stored))
    names = [name for name in names if name in form.cleaned_data]
    theirs = stored_form_values(form, stored, names)
    result = MergeResult(
        base_version=snapshot.version if snapshot is not None else None, stored=theirs
    )
    for name in names:
        form_field = form.fields[name]
        base = snapshot.base_of(name) if snapshot is not None else _UNKNOWN
        mine_value = form.cleaned_data[name]
        theirs_value = theirs[name]
        mine_changed = _user_changed(form, name, base)
        if mine_changed is None:
            mine_changed = fingerprint(form_field, mine_value) != base
        theirs_changed = base is _UNKNOWN or fingerprint(form_field, theirs_value) != base

        def equal(_name: str, left: Any, right: Any, form_field: forms.Field = form_field) -> bool:
            if isinstance(form_field, forms.FileField):
                return left is right or (not left and not right)
            return bool(comparable(form_field, left) == comparable(form_field, right))

        _classify(result, name, mine_changed, theirs_changed, mine_value, theirs_value, equal)
    return result


def apply_merge(form: forms.BaseForm, stored: models.Model, result: MergeResult) -> None:
    """Make ``form`` save the stored value of every field its user did not change.

    Sets ``form.cleaned_data`` (which a model form's ``save()`` reads for
    many-to-many fields, and ``construct_instance()`` for the rest when it has not
    run yet) and the form's instance (when it already ran).
    """
    if not result.untouched:
        return
    known = {name: result.stored[name] for name in result.untouched if name in result.stored}
    missing = [name for name in result.untouched if name not in known]
    theirs = {**known, **stored_form_values(form, stored, missing)}
    instance = getattr(form, "instance", None)
    for name, value in theirs.items():
        form.cleaned_data[name] = value
        if instance is None:
            continue
        model_field = instance._meta.get_field(name)
        if not model_field.many_to_many:
            model_field.save_form_data(instance, value)


def fields_outside_form(obj: models.Model, form: forms.BaseForm) -> dict[str, Any]:
    """``{attname: value}`` of ``obj``'s concrete fields that ``form`` does not edit."""
    return {
        field.attname: getattr(obj, field.attname)
        for field in obj._meta.concrete_fields
        if field.name not in form.fields and not field.primary_key
    }


def keep_changes_outside_form(
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
