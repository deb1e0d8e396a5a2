"""What becomes of the pusher backends' sender threads when the process forks or exits.

A ``fork``-ed child (gunicorn ``--preload``, multiprocessing) must not share its
parent's queue, threads and connections: every live backend starts afresh there
(:meth:`~pusherable.backends.senders.SenderThreads.reset_after_fork`). At
interpreter exit every live backend delivers what it holds, within
:data:`PUSHERABLE_SHUTDOWN_TIMEOUT`
(:meth:`~pusherable.backends.senders.SenderThreads.close`). The hooks are
registered once per process and reach the backends without keeping them alive.
"""

from __future__ import annotations

import atexit
import os
import weakref
from typing import Protocol

__all__ = ["forget", "track"]


class _Backend(Protocol):
    shutdown_timeout: float

    def reset_after_fork(self) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


_live_backends: weakref.WeakSet[_Backend] = weakref.WeakSet()


def track(backend: _Backend) -> None:
    """Reset ``backend`` in a forked child, and close it at interpreter exit."""
    _live_backends.add(backend)


def forget(backend: _Backend) -> None:
    """Stop tracking ``backend`` (it was closed)."""
    _live_backends.discard(backend)


def _after_fork_in_child() -> None:
    for backend in list(_live_backends):
        backend.reset_after_fork()


def _close_at_exit() -> None:
    for backend in list(_live_backends):
        backend.close(backend.shutdown_timeout)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_at_exit)
