"""The outbox: events the locmem backend delivered, and how to match them.

Kept apart from :mod:`pusherable.testing` so that the locmem backend can append
to the outbox without importing the test helpers (which import the backends).
Use it through :mod:`pusherable.testing`: ``from pusherable.testing import outbox``.
"""

from __future__ import annotations

from typing import Any

from .events import Event

__all__ = ["ANY", "UNSET", "Outbox", "match_event", "outbox"]


class _Any:
    """Matches any value in :func:`assert_triggered`'s ``data``."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ANY"


#: Put in ``data`` to require a key whatever its value: ``{"pk": ANY}``.
ANY: Any = _Any()

#: The default of ``socket_id`` in the matchers: any socket id, or none.
UNSET: Any = object()


class Outbox(list[Event]):
    """The list of events delivered through the locmem backend, oldest first."""

    def filter(
        self,
        channel: str | None = None,
        event: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> list[Event]:
        """The events matching ``channel``, ``event`` and ``data`` (see :func:`match_event`)."""
        return [item for item in self if match_event(item, channel, event, data)]

    @property
    def names(self) -> list[str]:
        """The event names, in order: handy for ``assert outbox.names == ["view", "updated"]``."""
        return [item.name for item in self]


#: Events delivered through the locmem backend, oldest first.
outbox: Outbox = Outbox()


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _subset(value, actual[key]) for key, value in expected.items()
        )
    return bool(expected == actual)


def match_event(
    item: Event,
    channel: str | None = None,
    event: str | None = None,
    data: dict[str, Any] | None = None,
    socket_id: Any = UNSET,
) -> bool:
    """Whether ``item`` is on ``channel``, named ``event``, and its data contains ``data``.

    ``None`` matches anything. ``data`` matches as a subset, recursively for
    nested dicts (lists and other values must be equal); use :data:`ANY` for a
    key whose value does not matter.
    """
    if channel is not None and channel not in item.channels:
        return False
    if event is not None and item.name != event:
        return False
    if data is not None and not _subset(data, item.data):
        return False
    return socket_id is UNSET or item.socket_id == socket_id
