"""The one place that names a channel for an object, and reads a name back.

An object's channel is ``<model>_<pk>`` (``article_42``), the name the original
django-pusherable used, behind a prefix chosen by ``PUSHERABLE_CHANNEL_TYPE``:
``presence-`` (the default: one channel carries the object's events and who is
here), ``private-``, or none for ``"public"``. A model's channel, for list pages,
is the model name alone (``private-article``), of the type
:func:`model_channel_type` names. With
``PUSHERABLE_CHANNEL_APP_LABEL = True`` the model part becomes
``<app_label>.<model>`` so that two apps' models of the same name stay apart.

Pusher allows only ``A-Z a-z 0-9 _ - = @ , . ;`` in a name, so any other character
of a primary key is written as ``=XX`` (the hex of its UTF-8 bytes), with ``=``
itself escaped: reversible, and a no-op for integer and UUID keys.
"""

from __future__ import annotations

import builtins
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models

from .conf import CHANNEL_TYPES, settings, settings_reloaded
from .exceptions import (
    ChannelError,
    ChannelNameTooLong,
    ConfigurationError,
    InvalidChannelName,
    UnknownChannelModel,
)
from .protocol_rules import (
    CHANNEL_NAME_RE,
    HOSTED_MAX_CHANNEL_NAME_LENGTH,
    PRESENCE_PREFIX,
    PRIVATE_PREFIX,
)

__all__ = [
    "MAX_CHANNEL_NAME_LENGTH",
    "PREFIXES",
    "ParsedChannel",
    "channel_for",
    "channel_for_model",
    "channel_prefix",
    "decode_pk",
    "encode_pk",
    "model_channel_part",
    "model_channel_type",
    "parse_channel",
]

#: Hosted Pusher's documented limit; the ``pusher`` library and soketi allow 200, so
#: a name that fits here works on every Pusher-compatible server.
MAX_CHANNEL_NAME_LENGTH = HOSTED_MAX_CHANNEL_NAME_LENGTH

#: The channel types this library builds, and their name prefixes.
PREFIXES: dict[str, str] = {"private": PRIVATE_PREFIX, "presence": PRESENCE_PREFIX, "public": ""}

_ESCAPE = "="
_SAFE_PK_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_@,.;")
_ESCAPED_BYTE_RE = re.compile(r"(?:=[0-9A-F]{2})+")


@dataclass(frozen=True)
class ParsedChannel:
    """A channel name read back: its type, its model, and the object's pk if any."""

    name: str
    type: str
    model: builtins.type[models.Model]
    pk: str | None

    @property
    def is_model_channel(self) -> bool:
        """Whether the channel is the model's own (list pages), not one object's."""
        return self.pk is None


def encode_pk(pk: Any) -> str:
    """Write a primary key with only the characters Pusher allows in channel names."""
    text = str(pk)
    if not text:
        raise ChannelError("An empty primary key cannot name a channel.")
    if _SAFE_PK_CHARS.issuperset(text):  # the common case, without a loop in Python
        return text
    return "".join(
        char if char in _SAFE_PK_CHARS else "".join(f"={byte:02X}" for byte in char.encode())
        for char in text
    )


def decode_pk(text: str) -> str:
    """Reverse :func:`encode_pk`; raise :exc:`InvalidChannelName` on a malformed escape."""
    if _ESCAPE not in text:
        return text

    def unescape(match: re.Match[str]) -> str:
        raw = bytes(int(part, 16) for part in match.group(0).split(_ESCAPE)[1:])
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            raise InvalidChannelName(f"Invalid escape in channel pk {text!r}.") from exc

    decoded = _ESCAPED_BYTE_RE.sub(unescape, text)
    # Only the canonical spelling is accepted, so one object has exactly one channel.
    if _ESCAPE in _ESCAPED_BYTE_RE.sub("", text) or encode_pk(decoded) != text:
        raise InvalidChannelName(f"Invalid escape in channel pk {text!r}.")
    return decoded


def channel_prefix(channel_type: str | None = None) -> str:
    """The name prefix for a channel type (default: ``PUSHERABLE_CHANNEL_TYPE``)."""
    channel_type = channel_type or settings.PUSHERABLE_CHANNEL_TYPE
    try:
        return PREFIXES[channel_type]
    except KeyError:
        raise ConfigurationError(
            f"Unknown channel type {channel_type!r}; choose one of {', '.join(CHANNEL_TYPES)}."
        ) from None


def model_channel_type() -> str:
    """The type of a model's channel when none is given: ``PUSHERABLE_MODEL_CHANNEL_TYPE``.

    Unset, it follows ``PUSHERABLE_CHANNEL_TYPE``, except that ``"presence"`` gives
    ``"private"``: a list page has no use for who else is on it, and every visitor of
    a presence channel costs a member event to all the others (hosted Pusher caps a
    presence channel at 100 members), which a list page read by the whole team would
    reach.
    """
    configured = settings.PUSHERABLE_MODEL_CHANNEL_TYPE
    if configured:
        return str(configured)
    object_type = settings.PUSHERABLE_CHANNEL_TYPE
    return "private" if object_type == "presence" else str(object_type)


def model_channel_part(model: type[models.Model] | models.Model) -> str:
    """The model's part of a channel name: ``article``, or ``blog.article`` with app labels."""
    opts = model._meta
    if settings.PUSHERABLE_CHANNEL_APP_LABEL:
        return f"{opts.app_label}.{opts.model_name}"
    return str(opts.model_name)


def _checked(name: str) -> str:
    if len(name) > MAX_CHANNEL_NAME_LENGTH:
        raise ChannelNameTooLong(
            f"Channel name {name[:40]!r}... is {len(name)} characters long; Pusher allows "
            f"{MAX_CHANNEL_NAME_LENGTH}. Use a shorter primary key, or override the view's "
            "get_pusher_channels() to name the channel yourself."
        )
    return name


# (model, channel type) -> "private-article_": the part of an object's channel name
# that only the settings decide, worked out once rather than on every page view.
# Dropped when a PUSHER* setting changes.
_object_channel_heads: dict[tuple[type[models.Model], str | None], str] = {}


def _remember_channel_head(model: type[models.Model], channel_type: str | None) -> str:
    head = f"{channel_prefix(channel_type)}{model_channel_part(model)}_"
    _object_channel_heads[(model, channel_type)] = head
    return head


def _forget_channel_heads(sender: Any, setting: str, **kwargs: Any) -> None:
    _object_channel_heads.clear()


settings_reloaded.connect(_forget_channel_heads, dispatch_uid="pusherable.channels")


def channel_for(instance: models.Model, channel_type: str | None = None) -> str:
    """The channel of one object: ``presence-article_42`` by default."""
    pk = instance.pk
    if pk is None:
        raise ChannelError(
            f"{instance._meta.label} instance has no primary key yet, so it has no channel."
        )
    # Called on every page view: the common case (a cached head, an integer or UUID
    # key) takes no further call.
    head = _object_channel_heads.get((type(instance), channel_type))
    if head is None:
        head = _remember_channel_head(type(instance), channel_type)
    text = str(pk)
    if not text or not _SAFE_PK_CHARS.issuperset(text):
        text = encode_pk(pk)
    name = head + text
    return name if len(name) <= MAX_CHANNEL_NAME_LENGTH else _checked(name)


def channel_for_model(
    model: type[models.Model] | models.Model, channel_type: str | None = None
) -> str:
    """The channel of a whole model, for list pages: ``private-article`` by default.

    ``channel_type`` defaults to :func:`model_channel_type`.
    """
    return _checked(
        channel_prefix(channel_type or model_channel_type()) + model_channel_part(model)
    )


def _models_by_channel_part() -> dict[str, list[type[models.Model]]]:
    found: dict[str, list[type[models.Model]]] = defaultdict(list)
    for model in apps.get_models(include_auto_created=False):
        found[model_channel_part(model)].append(model)
    return found


def _resolve(
    part: str, known: dict[str, list[type[models.Model]]], name: str
) -> type[models.Model]:
    candidates = known[part]
    if len(candidates) > 1:
        labels = ", ".join(sorted(model._meta.label for model in candidates))
        raise UnknownChannelModel(
            f"Channel {name!r} is ambiguous: {labels} share the model name {part!r}. "
            "Set PUSHERABLE_CHANNEL_APP_LABEL = True."
        )
    return candidates[0]


def parse_channel(name: str) -> ParsedChannel:
    """Read a channel name built by this module back into (type, model, pk).

    Raises :exc:`InvalidChannelName` for a name this library does not build and
    :exc:`UnknownChannelModel` when it names no installed model.
    """
    if not isinstance(name, str) or CHANNEL_NAME_RE.fullmatch(name) is None:
        raise InvalidChannelName(f"{name!r} is not a valid Pusher channel name.")
    if len(name) > MAX_CHANNEL_NAME_LENGTH:
        raise ChannelNameTooLong(
            f"Channel name is longer than {MAX_CHANNEL_NAME_LENGTH} characters."
        )
    for channel_type in ("presence", "private"):
        if name.startswith(PREFIXES[channel_type]):
            rest = name[len(PREFIXES[channel_type]) :]
            break
    else:
        channel_type, rest = "public", name

    known = _models_by_channel_part()
    if rest in known:
        return ParsedChannel(name, channel_type, _resolve(rest, known, name), None)
    # The model part is the longest known model name followed by "_": the pk may
    # itself contain underscores, a model name (almost) never does.
    for index in range(len(rest) - 1, 0, -1):
        if rest[index] == "_" and rest[:index] in known:
            pk = decode_pk(rest[index + 1 :])
            return ParsedChannel(name, channel_type, _resolve(rest[:index], known, name), pk)
    raise UnknownChannelModel(f"Channel {name!r} does not name an installed model.")
