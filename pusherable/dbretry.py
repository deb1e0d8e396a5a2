"""Saves that meet a busy database: retried, then refused with a form error, never a 500.

Two editors saving at the same moment make the database refuse one of them for
a moment: SQLite answers "database is locked" (a transaction that must wait for
another's write lock, past its ``timeout``, or that read before the other wrote),
PostgreSQL a lock timeout (``55P03``), a serialization failure (``40001``) or a
deadlock (``40P01``). Nothing was written: the save's transaction rolled back.
:class:`~pusherable.mixins.PusherUpdateMixin` and
:class:`~pusherable.admin.PusherableAdminMixin` then run the whole POST again,
a few times after a short random wait (:func:`run_retrying`), and answer the
form again, holding what the user typed, with :data:`DATABASE_BUSY_MESSAGE` if
the database stays busy.

A POST is retried only when no transaction is open any more: inside one (the
request's own, with ``ATOMIC_REQUESTS``) running the save again would run it in
the transaction that just failed.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import DatabaseError, connections
from django.forms import BaseForm
from django.utils.translation import gettext_lazy as _

__all__ = [
    "BUSY_PGCODES",
    "DATABASE_BUSY_MESSAGE",
    "DatabaseBusy",
    "busy_delay",
    "in_transaction",
    "is_database_busy",
    "refusing_form",
    "run_retrying",
    "transaction_broken",
]

logger = logging.getLogger("pusherable")

T = TypeVar("T")
F = TypeVar("F", bound=BaseForm)

#: The form error of a save the database stayed too busy for.
DATABASE_BUSY_MESSAGE = _(
    "The database was busy and your changes were not saved; please save again."
)

#: PostgreSQL's codes for "wait and try again": lock_not_available (``lock_timeout``,
#: ``NOWAIT``), serialization_failure, deadlock_detected.
BUSY_PGCODES = frozenset({"55P03", "40001", "40P01"})

# SQLite's primary result codes SQLITE_BUSY and SQLITE_LOCKED (extended codes add
# bits above the low byte, such as SQLITE_BUSY_SNAPSHOT).
_SQLITE_BUSY_CODES = frozenset({5, 6})
_SQLITE_BUSY_TEXTS = ("database is locked", "database table is locked", "database is busy")


class DatabaseBusy(Exception):
    """The database stayed busy through every retry; ``error`` is its last refusal."""

    def __init__(self, error: BaseException, attempts: int) -> None:
        super().__init__(f"the database stayed busy after {attempts} attempt(s): {error}")
        self.error = error
        self.attempts = attempts


def is_database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` says the database was busy (locked, a lock timeout, a deadlock).

    Looks at ``exc`` and the driver errors it wraps (Django re-raises them as
    :exc:`django.db.OperationalError` with the driver's error as ``__cause__``).
    """
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (DatabaseError, sqlite3.Error)) or _driver_error(error):
            code = getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)
            if code in BUSY_PGCODES:
                return True
            sqlite_code = getattr(error, "sqlite_errorcode", None)
            if isinstance(sqlite_code, int) and sqlite_code & 0xFF in _SQLITE_BUSY_CODES:
                return True
            if isinstance(error, (DatabaseError, sqlite3.OperationalError)):
                text = str(error).lower()
                if any(busy in text for busy in _SQLITE_BUSY_TEXTS):
                    return True
        # Only an explicit "raise ... from": an error raised while another was being
        # handled (its __context__) is a different error.
        error = error.__cause__
    return False


def _driver_error(error: BaseException) -> bool:
    # psycopg's and psycopg2's errors, without importing either: a DB-API error
    # carrying an SQLSTATE.
    return hasattr(error, "pgcode") or hasattr(error, "sqlstate")


def in_transaction() -> bool:
    """Whether a connection of this thread is inside ``transaction.atomic()``."""
    return any(connection.in_atomic_block for connection in connections.all(initialized_only=True))


def transaction_broken() -> bool:
    """Whether a transaction of this thread must roll back before any other query."""
    return any(
        connection.in_atomic_block and connection.needs_rollback
        for connection in connections.all(initialized_only=True)
    )


def busy_delay(attempt: int, backoff: tuple[float, float] = (0.05, 0.5)) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2...): doubling, with jitter.

    Random, so that the two saves that collided do not collide again.
    """
    first, longest = backoff
    ceiling = min(longest, first * 2 ** min(attempt - 1, 32))
    return random.uniform(ceiling / 2, ceiling)


def run_retrying(
    attempt: Callable[[], T],
    *,
    retries: int,
    delay: Callable[[int], float] = busy_delay,
    is_busy: Callable[[BaseException], bool] = is_database_busy,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``attempt()``, run again up to ``retries`` times while the database is busy.

    A busy error is retried only when it left no transaction open (it rolled
    back); any other exception goes through untouched.

    :raises DatabaseBusy: when the last try was busy too, or a busy error came
        from inside a transaction (not retried, but still usable: the error rolled
        back to a savepoint). A busy error that broke the transaction around it
        goes through untouched: nothing can be answered from inside it.
    """
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except Exception as exc:
            if not is_busy(exc):
                raise
            inside = in_transaction()
            if inside and transaction_broken():
                raise
            if tries > retries or inside:
                raise DatabaseBusy(exc, tries) from exc
            wait = delay(tries)
            logger.info(
                "pusherable: the database was busy (%s); trying the save again in %.2fs", exc, wait
            )
            sleep(wait)


def refusing_form(form_class: type[F], message: Any = DATABASE_BUSY_MESSAGE) -> type[F]:
    """A subclass of ``form_class`` whose validation always ends in ``message``.

    For a view that must answer with its form bound to what was submitted,
    but save nothing (the admin's change form, whose view validates and saves
    in one step).
    """

    class RefusingForm(form_class):  # type: ignore[valid-type,misc]
        def full_clean(self) -> None:
            super().full_clean()
            if self.is_bound:
                self.add_error(None, message)

    RefusingForm.__name__ = form_class.__name__
    RefusingForm.__qualname__ = form_class.__qualname__
    return RefusingForm
