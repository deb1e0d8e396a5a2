"""Version tokens: a short string that changes whenever an object is saved with changes.

An edit form carries the token of the object it was rendered from; comparing it
with the token of the stored object tells whether someone else saved in between
(see :mod:`pusherable.guard`).

Two kinds of token, chosen per model:

- the value of an ``auto_now`` date-time field (``updated_at``, ``modified``...),
  when the model has one: cheap, and it moves on every ``save()``;
- otherwise a keyed digest (HMAC with ``SECRET_KEY``) of every concrete field
  and every many-to-many field (its related keys, sorted), so that it moves
  whenever a value does, and reveals nothing about the values it was computed
  from (sensitive fields included).

Both are prefixed (``t:``/``d:``) so a token of one kind never equals one of the other.
"""

from __future__ import annotations

import datetime
from itertools import chain
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.crypto import salted_hmac

from .encoding import encode_json
from .exceptions import ConfigurationError
from .payload import field_value, json_safe

__all__ = [
    "PREFERRED_VERSION_FIELD_NAMES",
    "object_version",
    "version_digest",
    "version_field_of",
]

#: Names tried first when a model has several ``auto_now`` fields.
PREFERRED_VERSION_FIELD_NAMES = (
    "updated_at",
    "updated",
    "modified_at",
    "modified",
    "last_modified",
    "changed_at",
)

_DIGEST_SALT = "pusherable.versions.version_digest"


def _is_auto_now(field: models.Field) -> bool:
    return isinstance(field, models.DateTimeField) and bool(getattr(field, "auto_now", False))


def version_field_of(model: type[models.Model] | models.Model) -> models.Field | None:
    """The model's ``auto_now`` date-time field used as its version, or ``None``.

    With several, a conventional name (:data:`PREFERRED_VERSION_FIELD_NAMES`)
    wins, then the first declared.
    """
    candidates = [field for field in model._meta.concrete_fields if _is_auto_now(field)]
    if not candidates:
        return None
    by_name = {field.name: field for field in candidates}
    for name in PREFERRED_VERSION_FIELD_NAMES:
        if name in by_name:
            return by_name[name]
    return candidates[0]


def _digest_value(instance: models.Model, field: models.Field) -> Any:
    if field.many_to_many:
        # Sorted: the order of related keys is not part of the object's state.
        return sorted(field_value(instance, field), key=lambda pk: (str(type(pk)), str(pk)))
    if isinstance(field, models.FileField):
        value = field.value_from_object(instance)
        return value.name if value else None
    return json_safe(field.value_from_object(instance))


def version_digest(instance: models.Model) -> str:
    """A keyed digest of every concrete and many-to-many field of ``instance``."""
    opts = instance._meta
    state = {
        field.name: _digest_value(instance, field)
        for field in chain(opts.concrete_fields, opts.many_to_many)
    }
    text = encode_json(state, sort_keys=True, ensure_ascii=True)
    return "d:" + salted_hmac(_DIGEST_SALT, text, algorithm="sha256").hexdigest()[:32]


def object_version(instance: models.Model, field_name: str | None = None) -> str:
    """The version token of ``instance``.

    ``field_name`` names the field to use (it must be a concrete field whose value
    changes on every save); without it, the model's ``auto_now`` field
    (:func:`version_field_of`) or else :func:`version_digest`.
    """
    field: Any
    if field_name is not None:
        try:
            field = instance._meta.get_field(field_name)
        except FieldDoesNotExist:
            raise ConfigurationError(
                f"pusher_version_field {field_name!r} is not a field of {instance._meta.label}."
            ) from None
        if not getattr(field, "concrete", False) or field.many_to_many:
            raise ConfigurationError(
                f"pusher_version_field {field_name!r} of {instance._meta.label} must be a "
                "concrete, single-valued field."
            )
    else:
        field = version_field_of(instance)
        if field is None:
            return version_digest(instance)
    value = field.value_from_object(instance)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        # isoformat() keeps microseconds, which JSON encoders round off.
        return "t:" + value.isoformat()
    value = json_safe(value)
    return "t:" + ("" if value is None else str(value))
