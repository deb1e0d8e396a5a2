"""The listening socket: handshake timeout, connection cap and quiet accept errors.

aiohttp serves each accepted TCP connection with a ``RequestHandler`` and has no
limit on how many it accepts, nor a deadline for the first request's headers
beyond its keep-alive timeout. :class:`ConnectionGuard` wraps aiohttp's protocol
factory to add both: a connection that has not finished its first request (the
WebSocket handshake, or an HTTP API request's headers) within
``handshake_timeout`` is closed, and such half-open connections count against
the apps' ``max_connections`` alongside the open WebSockets.

:class:`AcceptErrorThrottle` keeps the log readable when descriptors run out:
asyncio reports every failed ``accept()`` retry, with a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["AcceptErrorThrottle", "ConnectionGuard", "sweep_forever"]

logger = logging.getLogger("pusherable.server")

_ACCEPT_ERROR = "socket.accept() out of system resource"


class _Refused(asyncio.Protocol):
    """Stands in for a handler when the server is full: the connection is dropped."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.abort()


class ConnectionGuard:
    """Protocol factory for ``loop.create_server`` around aiohttp's ``web.Server``.

    *open_connections* returns the number of established WebSockets; *limit* is
    the most connections (established plus half-open) to hold, ``None`` for no
    limit. Call :meth:`started` when a request's headers arrived (the aiohttp
    middleware does), and :meth:`sweep` periodically.
    """

    def __init__(
        self,
        factory: Callable[[], asyncio.BaseProtocol],
        *,
        handshake_timeout: float,
        limit: int | None,
        open_connections: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = factory
        self.handshake_timeout = handshake_timeout
        self.limit = limit
        self._open_connections = open_connections
        self._clock = clock
        # Handlers that have not started a request yet -> when they were accepted.
        # Insertion order is acceptance order, so a sweep stops at the first young one.
        self.pending: dict[Any, float] = {}
        self.refused = 0

    def __call__(self) -> asyncio.BaseProtocol:
        if self.limit is not None and len(self.pending) + self._open_connections() >= self.limit:
            self.refused += 1
            return _Refused()
        handler = self._factory()
        self.pending[handler] = self._clock()
        return handler

    def started(self, handler: object) -> None:
        """*handler*'s connection delivered a whole request: it is no longer half-open."""
        self.pending.pop(handler, None)

    def sweep(self) -> int:
        """Close the connections past their handshake deadline; return how many."""
        deadline = self._clock() - self.handshake_timeout
        closed = 0
        for handler, accepted_at in list(self.pending.items()):
            transport = getattr(handler, "transport", None)
            if transport is None:  # gone already
                del self.pending[handler]
                continue
            if accepted_at > deadline:
                break
            del self.pending[handler]
            transport.abort()
            closed += 1
        if closed:
            logger.info("half-open connections closed", extra={"count": closed})
        return closed


async def sweep_forever(guard: ConnectionGuard) -> None:
    """Run :meth:`ConnectionGuard.sweep` often enough for its timeout, forever."""
    interval = max(0.25, min(1.0, guard.handshake_timeout / 4))
    while True:
        await asyncio.sleep(interval)
        guard.sweep()


class AcceptErrorThrottle:
    """Event-loop exception handler: one log line per burst of failed ``accept()``.

    When descriptors run out, asyncio pauses accepting for a second and reports
    each retry through the loop's exception handler, with a traceback: thousands of
    lines for one incident. This reports the first failure of a burst in one line
    (with how many were folded into the previous report) and passes every other
    exception to the default handler. A burst ends after *quiet* seconds without
    a failure.
    """

    def __init__(self, quiet: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self._clock = clock
        self._last: float | None = None
        self.suppressed = 0
        #: Set once the listening socket is closed (see :meth:`__call__`).
        self.listener_closed = False

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != _ACCEPT_ERROR:
            if self.listener_closed and _is_accept_retry(context):
                # asyncio's pending accept() retry fires after the socket closed and
                # fails on its descriptor (-1): nothing is lost, nothing to report.
                return
            loop.default_exception_handler(context)
            return
        now = self._clock()
        if self._last is not None and now - self._last < self.quiet:
            self._last = now
            self.suppressed += 1
            return
        self._last = now
        error = context.get("exception")
        logger.error(
            "cannot accept connections: out of file descriptors or memory; "
            "retrying every second, quiet until it recovers",
            extra={"error": str(error), "folded_before": self.suppressed},
        )
        self.suppressed = 0


def _is_accept_retry(context: dict[str, Any]) -> bool:
    callback = getattr(context.get("handle"), "_callback", None)
    return getattr(callback, "__name__", "") == "_start_serving" and isinstance(
        context.get("exception"), ValueError
    )
