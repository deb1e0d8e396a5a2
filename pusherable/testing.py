"""Test helpers: an outbox of triggered events, assertions, and a capture helper.

Like ``django.core.mail.outbox``: with ``PUSHERABLE_BACKEND =
"pusherable.backends.locmem.Backend"`` every event delivered is appended (as a
deep copy) to :data:`outbox`. Each item is a :class:`pusherable.events.Event`
with ``.channels`` (list of str), ``.name``, ``.data`` (dict) and ``.socket_id``.

::

    from pusherable.testing import assert_triggered, capture_triggers

    with capture_triggers() as sent:
        client.post(url, {"title": "New"})
    assert_triggered("private-article_1", "updated", {"changed": {"title": "New"}}, events=sent)

When an assertion fails its message lists every event that *was* sent, so the
mismatch is visible at once. See also :class:`PusherableTestMixin` for
``unittest``/django-test-plus test cases and the ``pusherable_outbox`` pytest fixture.
"""

from __future__ import annotations

import copy
import logging
import pprint
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .backends.base import BaseBackend
from .events import Event
from .outbox import ANY, UNSET, Outbox, match_event, outbox

__all__ = [
    "ANY",
    "Outbox",
    "PusherableTestMixin",
    "assert_not_triggered",
    "assert_triggered",
    "capture_triggers",
    "match_event",
    "outbox",
    "use_locmem_backend",
]


logger = logging.getLogger("pusherable")


def _describe(channel: str | None, event: str | None, data: Any, socket_id: Any) -> str:
    parts = [
        f"channel={channel!r}" if channel is not None else None,
        f"event={event!r}" if event is not None else None,
        f"data containing {data!r}" if data is not None else None,
        f"socket_id={socket_id!r}" if socket_id is not UNSET else None,
    ]
    return ", ".join(part for part in parts if part) or "any event"


def _format_sent(events: Sequence[Event]) -> str:
    if not events:
        return "No event was triggered."
    lines = [f"{len(events)} event(s) were triggered:"]
    for index, item in enumerate(events, 1):
        lines.append(
            f"  {index}. {item.name!r} on {item.channels!r}"
            + (f" (socket_id={item.socket_id!r})" if item.socket_id else "")
        )
        lines.append("     " + pprint.pformat(item.data, width=88).replace("\n", "\n     "))
    return "\n".join(lines)


def assert_triggered(
    channel: str | None = None,
    event: str | None = None,
    data: dict[str, Any] | None = None,
    count: int | None = None,
    *,
    socket_id: Any = UNSET,
    events: Sequence[Event] | None = None,
) -> list[Event]:
    """Assert that an event matching the arguments was triggered; return the matches.

    :param channel: a channel the event went to (``None``: any).
    :param event: the event name (``None``: any).
    :param data: a dict the event's data must contain (recursive subset match).
    :param count: the exact number of matching events (``None``: at least one).
    :param socket_id: the excluded socket id the event must carry (omit: any).
    :param events: where to look; :data:`outbox` by default.
    :raises AssertionError: listing every event that was triggered.
    """
    sent = outbox if events is None else events
    matches = [item for item in sent if match_event(item, channel, event, data, socket_id)]
    if (count is None and not matches) or (count is not None and len(matches) != count):
        expected = "at least one" if count is None else f"exactly {count}"
        raise AssertionError(
            f"Expected {expected} event matching {_describe(channel, event, data, socket_id)}, "
            f"found {len(matches)}.\n{_format_sent(sent)}"
        )
    return matches


def assert_not_triggered(
    channel: str | None = None,
    event: str | None = None,
    data: dict[str, Any] | None = None,
    *,
    socket_id: Any = UNSET,
    events: Sequence[Event] | None = None,
) -> None:
    """Assert that no event matching the arguments was triggered (all ``None``: none at all).

    :raises AssertionError: listing every event that was triggered.
    """
    sent = outbox if events is None else events
    matches = [item for item in sent if match_event(item, channel, event, data, socket_id)]
    if matches:
        raise AssertionError(
            f"Expected no event matching {_describe(channel, event, data, socket_id)}, "
            f"found {len(matches)}.\n{_format_sent(sent)}"
        )


def use_locmem_backend() -> BaseBackend | None:
    """Make the locmem backend the process's backend; return the previous one.

    Give the previous backend back to :func:`pusherable.delivery.set_backend` to restore it.
    """
    from .backends import locmem
    from .delivery import set_backend

    return set_backend(locmem.Backend())


class _CaptureBackend(BaseBackend):
    """Like the locmem backend, and also records events in a capture list."""

    def __init__(self, captured: list[Event]) -> None:
        super().__init__()
        self.captured = captured

    def send_events(self, events: Sequence[Event]) -> int:
        copies = copy.deepcopy(list(events))
        self.captured.extend(copies)
        outbox.extend(copy.deepcopy(copies))
        return len(copies)


@contextmanager
def capture_triggers(*, on_commit: bool = True, using: str = "default") -> Iterator[list[Event]]:
    """Capture the events triggered inside the block, through the locmem backend.

    The list it yields fills as events are delivered; they are also appended to
    :data:`outbox`. The previous backend is restored on exit.

    :param on_commit: run the ``transaction.on_commit`` callbacks registered inside
        the block when it exits, as if its transaction had committed. Test cases
        wrap each test in a transaction that never commits, so without this the
        events that wait for a commit (``updated``, ``created``...) never go out.
    :param using: the database alias whose on-commit callbacks to run.
    """
    from .delivery import set_backend

    captured: list[Event] = []
    previous = set_backend(_CaptureBackend(captured))
    try:
        if on_commit:
            with _run_on_commit_callbacks(using):
                yield captured
        else:
            yield captured
    finally:
        set_backend(previous)


@contextmanager
def _run_on_commit_callbacks(using: str) -> Iterator[None]:
    from django.db import connections

    connection = connections[using]
    start = len(connection.run_on_commit)
    try:
        yield
    finally:
        # Like TestCase.captureOnCommitCallbacks(execute=True), callbacks added
        # by callbacks included; outside a transaction they already ran.
        while len(connection.run_on_commit) > start:
            pending = connection.run_on_commit[start:]
            del connection.run_on_commit[start:]
            for entry in pending:
                # (savepoint ids, callback, robust) since Django 4.2.
                callback, robust = entry[1], bool(entry[2:3] and entry[2])
                if robust:
                    try:
                        callback()
                    except Exception:
                        logger.exception("pusherable: a robust on-commit callback raised")
                else:
                    callback()


class PusherableTestMixin:
    """For ``unittest`` test cases (Django's, django-test-plus'): locmem backend, empty outbox.

    Each test starts with the locmem backend and an empty :data:`outbox`
    (``self.pusherable_outbox``); the previous backend comes back afterwards::

        class ArticleTests(PusherableTestMixin, test_plus.TestCase):
            def test_update(self):
                with self.captureTriggers() as sent:
                    self.post("article-update", pk=1, data={"title": "New"})
                self.assertTriggered("private-article_1", "updated", events=sent)
    """

    pusherable_outbox: Outbox = outbox

    def setUp(self) -> None:
        from .delivery import set_backend

        super().setUp()  # type: ignore[misc]
        previous = use_locmem_backend()
        outbox.clear()
        self.addCleanup(set_backend, previous)  # type: ignore[attr-defined]
        self.addCleanup(outbox.clear)  # type: ignore[attr-defined]

    def assertTriggered(
        self,
        channel: str | None = None,
        event: str | None = None,
        data: dict[str, Any] | None = None,
        count: int | None = None,
        **kwargs: Any,
    ) -> list[Event]:
        """See :func:`assert_triggered`."""
        return assert_triggered(channel, event, data, count, **kwargs)

    def assertNotTriggered(
        self,
        channel: str | None = None,
        event: str | None = None,
        data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """See :func:`assert_not_triggered`."""
        assert_not_triggered(channel, event, data, **kwargs)

    def captureTriggers(self, **kwargs: Any) -> Any:
        """See :func:`capture_triggers`."""
        return capture_triggers(**kwargs)
