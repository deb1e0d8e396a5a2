"""Turn a model instance into the JSON-safe ``data`` of an event.

The object's part follows :func:`django.forms.models.model_to_dict` (editable
fields, ``fields``/``exclude``), with every value made JSON-safe in one pass,
without a ``json.dumps``/``json.loads`` round trip:

- a foreign key becomes the related object's key (``author_id``'s value);
- a many-to-many field becomes the list of related primary keys (from the
  prefetch cache when there is one, else one query: of the join table alone
  when that gives the same keys, else ``values_list("pk")``; ``[]`` for an
  unsaved object);
- a file or image becomes its URL when the storage can give one, else its name,
  and ``None`` when empty;
- ``Decimal``, ``UUID``, dates, times, durations and lazy strings follow
  :class:`~pusherable.encoding.JSONEncoder` (Django's ``DjangoJSONEncoder``);
  JSON field values are walked recursively; ``NaN`` and infinities become ``None`` (as in
  JavaScript's ``JSON.stringify``); bytes become base64.

Sensitive fields (:data:`PUSHERABLE_SENSITIVE_FIELDS` and names matching
:data:`PUSHERABLE_SENSITIVE_FIELD_PATTERN`) are left out unless ``fields`` names
them. :func:`limit_payload_size` replaces an event whose JSON is too large with
a small ``"truncated": true`` event; :func:`pusherable.delivery.trigger` applies
it to every event.
"""

from __future__ import annotations

import base64
import decimal
import functools
import logging
import math
import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from itertools import chain
from typing import Any, NamedTuple, cast

from django.db import connections, models, router
from django.db.models.fields.files import FieldFile

from .conf import settings
from .encoding import JSONEncoder, encode_json
from .exceptions import ConfigurationError, PayloadError
from .users import display_name

__all__ = [
    "TRUNCATED_KEYS",
    "build_payload",
    "changed_values",
    "describe_user",
    "encode_payload",
    "field_value",
    "file_value",
    "is_sensitive_field",
    "json_safe",
    "limit_payload",
    "limit_payload_size",
    "payload_size",
    "serialize_object",
]

logger = logging.getLogger("pusherable")

#: The keys an oversized event keeps, besides ``"truncated": true``.
TRUNCATED_KEYS = ("event", "model", "pk", "user", "user_id", "user_name")

# JSONEncoder.default() is stateless: one instance serves every call.
_ENCODER = JSONEncoder()
_PLAIN_TYPES = frozenset((str, int, bool))
# Exact types whose JSON form JSONEncoder gives as str(value): looked up in
# one step rather than after every isinstance() test below (UUID primary keys are
# in every payload of a model that has them).
_STR_TYPES = frozenset((uuid.UUID, decimal.Decimal))


def json_safe(value: Any) -> Any:
    """Return ``value`` as plain JSON types: dict, list, str, int, float, bool, None.

    Types :class:`~pusherable.encoding.JSONEncoder` knows are converted as it
    would; anything else falls back to ``str(value)`` so that
    an odd value never fails an event.
    """
    kind = type(value)
    if value is None or kind in _PLAIN_TYPES:
        return value
    if kind in _STR_TYPES:
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):  # str subclasses, such as TextChoices members
        return str.__str__(value)
    if isinstance(value, int):  # bool is caught above; IntegerChoices members
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, FieldFile):
        return file_value(value)
    if isinstance(value, models.Model):
        return json_safe(value.pk)
    try:
        return _ENCODER.default(value)
    except TypeError:
        return str(value)


def file_value(value: FieldFile | None) -> str | None:
    """A file's URL when its storage can give one, else its name; ``None`` when empty."""
    if not value:
        return None
    try:
        return str(value.url)
    except Exception:  # storages without URLs raise NotImplementedError, others ValueError...
        return str(value.name)


def _many_to_many_pks(instance: models.Model, field: models.Field) -> list[Any]:
    if instance.pk is None:
        # An unsaved object has no relations yet, and asking would raise.
        return []
    prefetched = getattr(instance, "_prefetched_objects_cache", None)
    if prefetched and field.name in prefetched:
        # prefetch_related() already loaded them: no query at all.
        return [json_safe(related.pk) for related in getattr(instance, field.name).all()]
    alias = router.db_for_read(cast("type[models.Model]", field.related_model), instance=instance)
    sql = _join_table_query(cast("models.ManyToManyField[Any, Any]", field), alias)
    if sql is not None:
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [instance.pk])
            return [row[0] for row in cursor.fetchall()]
    # One query for the keys only, instead of building every related instance.
    manager = getattr(instance, field.name)
    return [json_safe(pk) for pk in manager.values_list("pk", flat=True)]


# Key fields whose values every database returns as Python ints, with no converter.
_INTEGER_KEYS = frozenset(
    (
        models.AutoField,
        models.BigAutoField,
        models.SmallAutoField,
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveBigIntegerField,
        models.PositiveSmallIntegerField,
    )
)


@functools.lru_cache(maxsize=256)
def _join_table_query(field: models.ManyToManyField[Any, Any], alias: str) -> str | None:
    """The SQL that reads an object's related keys from the join table alone, when
    that gives what the related manager's ``values_list("pk")`` gives; else ``None``.

    The ORM builds, joins and compiles that query anew for every event (several
    hundred µs, most of an event's cost on a model with a many-to-many field). Its
    answer is the join table's column whenever Django made the join table, both
    keys are plain integers (no conversion from the database's value), and the
    related model's default manager neither filters nor orders its rows.
    """
    through: Any = field.remote_field.through
    related: Any = field.related_model
    if (
        not through._meta.auto_created
        or related._meta.ordering
        or type(related._default_manager) is not models.Manager
        or type(cast(Any, field.model)._meta.pk) not in _INTEGER_KEYS
        or type(related._meta.pk) not in _INTEGER_KEYS
    ):
        return None
    source: Any = through._meta.get_field(field.m2m_field_name())
    target: Any = through._meta.get_field(field.m2m_reverse_field_name())
    quote = connections[alias].ops.quote_name
    # Names from the models' metadata, quoted by the database backend; the key is a
    # parameter.
    return (
        f"SELECT {quote(target.column)} FROM {quote(through._meta.db_table)} "  # noqa: S608
        f"WHERE {quote(source.column)} = %s"
    )


def field_value(instance: models.Model, field: models.Field) -> Any:
    """The JSON-safe value of one field of ``instance``."""
    if field.many_to_many:
        return _many_to_many_pks(instance, field)
    if isinstance(field, models.FileField):
        return file_value(field.value_from_object(instance))
    return json_safe(field.value_from_object(instance))


@functools.lru_cache(maxsize=8)
def _compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ConfigurationError(
            f"PUSHERABLE_SENSITIVE_FIELD_PATTERN {pattern!r} is not a valid regular "
            f"expression: {exc}"
        ) from exc


# (names setting, pattern setting, key): the key is rebuilt only when a setting changed.
_sensitivity_cache: tuple[Any, Any, tuple[frozenset[str], str]] | None = None


def _sensitivity_key() -> tuple[frozenset[str], str]:
    global _sensitivity_cache
    names, pattern = (
        settings.PUSHERABLE_SENSITIVE_FIELDS,
        settings.PUSHERABLE_SENSITIVE_FIELD_PATTERN,
    )
    cached = _sensitivity_cache
    # The same setting objects until override_settings or a reload replaces them.
    if cached is not None and cached[0] is names and cached[1] is pattern:
        return cached[2]
    key = (frozenset(str(name).lower() for name in names), pattern or "")
    _sensitivity_cache = (names, pattern, key)
    return key


def _is_sensitive(name: str, key: tuple[frozenset[str], str]) -> bool:
    names, pattern = key
    return name.lower() in names or (
        bool(pattern) and _compile_pattern(pattern).search(name) is not None
    )


def is_sensitive_field(name: str) -> bool:
    """Whether a field named ``name`` is kept out of payloads unless included by name.

    True for the exact names of :data:`PUSHERABLE_SENSITIVE_FIELDS` and for names in
    which :data:`PUSHERABLE_SENSITIVE_FIELD_PATTERN` finds a match, both
    case-insensitive.
    """
    return _is_sensitive(name, _sensitivity_key())


_M2M, _FILE, _PLAIN, _ATTRIBUTE = "m2m", "file", "plain", "attribute"
_BASE_VALUE_FROM_OBJECT = models.Field.value_from_object


class _FieldPlan(NamedTuple):
    """Which fields of a model a payload carries, and how to read each."""

    # (name, kind, field, attname): _ATTRIBUTE fields are read as the attribute
    # itself, which is all Field.value_from_object() does, without the call.
    fields: tuple[tuple[str, str, models.Field, str], ...]
    # The primary key's field name when its serialized value is the payload's
    # "pk" as well (read once, not twice), else None.
    pk_name: str | None
    # The payload's "model": Options.label_lower, which builds the string anew.
    label: str


@functools.lru_cache(maxsize=512)
def _field_plan(
    model: type[models.Model],
    fields: frozenset[str] | None,
    exclude: frozenset[str],
    sensitivity: tuple[frozenset[str], str],
) -> _FieldPlan:
    # Which fields to send, and how, depends only on the model and the settings:
    # worked out once per combination rather than on every event.
    opts = model._meta
    plan = []
    pk_name = None
    for field in chain(opts.concrete_fields, opts.private_fields, opts.many_to_many):
        named = fields is not None and field.name in fields
        if fields is not None and not named:
            continue
        if field.name in exclude:
            continue
        if not getattr(field, "editable", False) and not (
            named and (field.concrete or field.many_to_many)
        ):
            continue
        if not named and _is_sensitive(field.name, sensitivity):
            continue
        if field.many_to_many:
            kind = _M2M
        elif isinstance(field, models.FileField):
            kind = _FILE
        elif type(field).value_from_object is _BASE_VALUE_FROM_OBJECT:
            kind = _ATTRIBUTE
            if field is opts.pk:
                pk_name = field.name
        else:
            kind = _PLAIN
        plan.append((field.name, kind, field, field.attname))
    return _FieldPlan(tuple(plan), pk_name, opts.label_lower)


def _plan_for(
    instance: models.Model, fields: Collection[str] | None, exclude: Collection[str] | None
) -> _FieldPlan:
    return _field_plan(
        type(instance),
        None if fields is None else frozenset(fields),
        frozenset(exclude or ()),
        _sensitivity_key(),
    )


def _serialize(instance: models.Model, plan: _FieldPlan) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, kind, field, attname in plan.fields:
        if kind is _ATTRIBUTE:
            value = getattr(instance, attname)
            # Most values are already JSON types: no call for them.
            data[name] = (
                value if value is None or type(value) in _PLAIN_TYPES else json_safe(value)
            )
        elif kind is _PLAIN:
            data[name] = json_safe(field.value_from_object(instance))
        elif kind is _M2M:
            data[name] = _many_to_many_pks(instance, field)
        else:
            data[name] = file_value(field.value_from_object(instance))
    return data


def serialize_object(
    instance: models.Model,
    fields: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
) -> dict[str, Any]:
    """Serialize ``instance`` like ``model_to_dict(instance, fields, exclude)``, JSON-safe.

    Differences from :func:`~django.forms.models.model_to_dict`, on purpose:
    sensitive fields are left out unless ``fields`` names them, and a field that
    is not editable (``auto_now``, ``editable=False``) is included when ``fields``
    names it, rather than silently dropped.
    """
    return _serialize(instance, _plan_for(instance, fields, exclude))


def describe_user(user: Any) -> tuple[str | None, str | None]:
    """``(username, user_id)`` of ``user`` for a payload; ``(None, None)`` when anonymous.

    The name comes from ``get_username()``, so custom user models without a
    ``username`` field work.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None, None
    get_username = getattr(user, "get_username", None)
    name = get_username() if callable(get_username) else getattr(user, "username", None)
    pk = getattr(user, "pk", None)
    return (None if name is None else str(name)), (None if pk is None else str(pk))


def changed_values(object_data: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The new values of the ``names`` that the serialized object carries.

    Fields left out of the object (excluded or sensitive) are left out here too,
    so ``changed`` never reveals what ``object`` hides.
    """
    return {name: object_data[name] for name in names if name in object_data}


def build_payload(
    instance: models.Model,
    event: str,
    *,
    user: Any = None,
    fields: Collection[str] | None = None,
    exclude: Collection[str] | None = None,
    changed: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The ``data`` of an event about ``instance``.

    ``{"event", "model", "pk", "object", "user", "user_id", "user_name"}``, plus ``"changed"``
    (the new values of the ``changed`` field names) when ``changed`` is given.
    """
    plan = _plan_for(instance, fields, exclude)
    object_data = _serialize(instance, plan)
    username, user_id = (None, None) if user is None else describe_user(user)
    payload: dict[str, Any] = {
        "event": event,
        "model": plan.label,
        "pk": object_data[plan.pk_name] if plan.pk_name else json_safe(instance.pk),
        "object": object_data,
        "user": username,
        "user_id": user_id,
        # The name pages show (PUSHERABLE_USER_DISPLAY_NAME), as presence does.
        "user_name": None if username is None else display_name(user),
    }
    if changed is not None:
        payload["changed"] = changed_values(object_data, changed)
    return payload


def encode_payload(data: Any) -> str:
    """``data`` as compact JSON text (the string Pusher carries and the size limit counts),
    written by :func:`pusherable.encoding.encode_json`.

    Raises :exc:`~pusherable.exceptions.PayloadError` when ``data`` is not
    JSON-serializable.
    """
    try:
        return encode_json(data)
    except (TypeError, ValueError) as exc:
        raise _not_serializable(exc) from exc


def _not_serializable(exc: Exception) -> PayloadError:
    return PayloadError(f"Event data cannot be serialized to JSON: {exc}")


def _utf8_size(text: str) -> int:
    if text.isascii():
        # The usual case: no need to build the bytes just to count them.
        return len(text)
    # surrogatepass: a lone surrogate in user text must not fail the event.
    return len(text.encode("utf-8", "surrogatepass"))


def payload_size(data: Any) -> int:
    """Bytes of ``data`` as compact UTF-8 JSON, the way the size limit counts them."""
    return _utf8_size(encode_payload(data))


def limit_payload(
    data: dict[str, Any], *, event: str | None = None, limit: int | None = None
) -> tuple[dict[str, Any], str | None]:
    """:func:`limit_payload_size`, also returning the JSON text of what it returns.

    The text is ``None`` when the guard is off (``limit`` is ``None`` or ``0`` and
    :data:`PUSHERABLE_MAX_PAYLOAD_SIZE` is too), since nothing was encoded then.
    :func:`pusherable.delivery.trigger` keeps the text on the
    :class:`~pusherable.events.Event` so that the backend sends it as is rather
    than encoding the same data again.
    """
    if limit is None:
        limit = settings.PUSHERABLE_MAX_PAYLOAD_SIZE
    if not limit:
        return data, None
    try:
        text = encode_json(data)
    except (TypeError, ValueError) as exc:
        raise _not_serializable(exc) from exc
    size = len(text) if text.isascii() else _utf8_size(text)
    if size <= limit:
        return data, text
    small: dict[str, Any] = {key: data.get(key) for key in TRUNCATED_KEYS}
    if small["event"] is None:
        small["event"] = event
    small["truncated"] = True
    logger.warning(
        "pusherable: event %r for %s pk=%s is %d bytes of JSON, over "
        "PUSHERABLE_MAX_PAYLOAD_SIZE (%d); sending it truncated. Leave large fields out "
        "with pusher_exclude_model_fields or a custom get_pusher_payload().",
        small["event"],
        small["model"] or "(no model)",
        small["pk"],
        size,
        limit,
    )
    try:
        small_text: str | None = encode_json(small)
    except (TypeError, ValueError):
        # The kept keys came from data that did encode; stay safe all the same.
        small_text = None
    return small, small_text


def limit_payload_size(
    data: dict[str, Any], *, event: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    """Return ``data``, or a small ``"truncated": true`` event when its JSON is too large.

    ``limit`` defaults to :data:`PUSHERABLE_MAX_PAYLOAD_SIZE` (``None`` or ``0``
    turns the guard off). The small event keeps :data:`TRUNCATED_KEYS` (``None``
    where ``data`` lacks one) so that clients can refetch the object; one warning
    naming the model, the pk and the size is logged. Raises
    :exc:`~pusherable.exceptions.PayloadError` when ``data`` is not JSON-serializable.
    """
    return limit_payload(data, event=event, limit=limit)[0]
