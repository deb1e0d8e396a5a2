"""A short server-side history of who changed which fields of an object, from what to what.

When an edit form comes back from an older version of its object, the collision
guard (:mod:`pusherable.guard`) looks here to name who made the changes it merges
in or refuses: "Alice's new Title was kept", "Alice changed this to 'Final'".

Entries live in Django's cache (:data:`PUSHERABLE_HISTORY_CACHE`), at most
:data:`PUSHERABLE_HISTORY_LENGTH` per object, for :data:`PUSHERABLE_HISTORY_TIMEOUT`
seconds. The history is a help, not a source of truth: the merge itself compares
the stored values, so when the history was evicted, or the change was made where
nothing records it (``QuerySet.update()``, the shell), the guard merges and
refuses just the same, with messages that say "someone else".
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import caches
from django.db import models, router, transaction
from django.utils import timezone

from .conf import settings
from .payload import describe_user, json_safe
from .users import display_name

__all__ = [
    "Change",
    "changes_since",
    "clear_history",
    "history_key",
    "object_history",
    "record_change",
    "record_change_on_commit",
]

logger = logging.getLogger("pusherable")


@dataclass(frozen=True)
class Change:
    """One recorded save: who made it, and the fields it changed.

    ``fields`` maps each field name to ``(old, new)`` JSON-safe values; a field
    whose values must not be shown (a sensitive one) maps to ``None``.
    """

    previous_version: str | None
    version: str
    user: str | None
    user_id: str | None
    fields: dict[str, tuple[Any, Any] | None] = field(default_factory=dict)
    at: str | None = None
    #: The name the user goes by (:func:`pusherable.users.display_name`).
    user_name: str | None = None

    @property
    def who(self) -> str | None:
        """The user's display name, else the username, else ``None``."""
        return self.user_name or self.user

    def as_dict(self) -> dict[str, Any]:
        return {
            "previous_version": self.previous_version,
            "version": self.version,
            "user": self.user,
            "user_id": self.user_id,
            "user_name": self.user_name,
            "fields": {
                name: None if values is None else list(values)
                for name, values in self.fields.items()
            },
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            previous_version=data.get("previous_version"),
            version=str(data["version"]),
            user=data.get("user"),
            user_id=data.get("user_id"),
            user_name=data.get("user_name"),
            fields={
                str(name): None if values is None else (values[0], values[1])
                for name, values in (data.get("fields") or {}).items()
            },
            at=data.get("at"),
        )


def history_key(model: type[models.Model] | models.Model, pk: Any) -> str:
    """The cache key of an object's history."""
    return f"pusherable:history:{model._meta.label_lower}:{json_safe(pk)}"


def _cache() -> Any:
    return caches[settings.PUSHERABLE_HISTORY_CACHE]


def object_history(model: type[models.Model] | models.Model, pk: Any) -> list[Change]:
    """Every recorded change of the object, oldest first."""
    raw = _cache().get(history_key(model, pk)) or []
    changes = []
    for item in raw:
        try:
            changes.append(Change.from_dict(item))
        except (AttributeError, KeyError, TypeError, IndexError, ValueError):
            continue  # an entry written by another version of this library
    return changes


def record_change(
    instance: models.Model,
    *,
    previous_version: str | None,
    version: str,
    user: Any = None,
    fields: Mapping[str, tuple[Any, Any] | None] | None = None,
    at: datetime.datetime | None = None,
) -> Change:
    """Append a change of ``instance`` to its history and return it.

    ``fields`` maps field names to ``(old, new)`` values (made JSON-safe here),
    or to ``None`` to record that a field changed without keeping its values.
    """
    username, user_id = describe_user(user)
    change = Change(
        previous_version=previous_version,
        version=version,
        user=username,
        user_id=user_id,
        user_name=display_name(user),
        fields={
            str(name): None if values is None else (json_safe(values[0]), json_safe(values[1]))
            for name, values in (fields or {}).items()
        },
        at=(at or timezone.now()).isoformat(),
    )
    key = history_key(instance, instance.pk)
    cache = _cache()
    entries = list(cache.get(key) or [])
    entries.append(change.as_dict())
    length = max(1, int(settings.PUSHERABLE_HISTORY_LENGTH))
    cache.set(key, entries[-length:], settings.PUSHERABLE_HISTORY_TIMEOUT)
    return change


def record_change_on_commit(
    instance: models.Model,
    *,
    previous_version: str | None,
    version: str,
    user: Any = None,
    fields: Mapping[str, tuple[Any, Any] | None] | None = None,
    using: str | None = None,
) -> None:
    """:func:`record_change` once the current transaction commits (never if it rolls
    back); a failure there (the cache is down) is logged, never raised into the save.

    ``using`` defaults to the database the router writes ``instance`` to.
    """
    if using is None:
        using = router.db_for_write(type(instance), instance=instance)

    def record() -> None:
        try:
            record_change(
                instance,
                previous_version=previous_version,
                version=version,
                user=user,
                fields=fields,
            )
        except Exception:
            logger.exception("pusherable: could not record the change of %r", instance)

    transaction.on_commit(record, using=using)


def changes_since(model: type[models.Model] | models.Model, pk: Any, version: str) -> list[Change]:
    """The recorded changes that led from ``version`` to the latest one, oldest first.

    Follows the chain of ``previous_version`` -> ``version`` links; returns ``[]``
    when ``version`` is not in the history (evicted, or changed where nothing
    recorded it).
    """
    history = object_history(model, pk)
    chain: list[Change] = []
    current = version
    seen = {version}
    while True:
        # The latest entry that starts from the current version: a save that was
        # recorded but then rolled back would leave an older sibling.
        following = [change for change in history if change.previous_version == current]
        if not following:
            break
        change = following[-1]
        if change.version in seen:
            break  # a cycle (a digest back to an earlier state): stop there
        chain.append(change)
        seen.add(change.version)
        current = change.version
    return chain


def clear_history(model: type[models.Model] | models.Model, pk: Any) -> None:
    """Forget every recorded change of the object."""
    _cache().delete(history_key(model, pk))
