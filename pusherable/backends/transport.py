"""A lean HTTP transport for the :class:`pusher.Pusher` client.

The ``pusher`` library sends its requests through a pluggable *backend* class
(``pusher.Pusher(..., backend=...)``); its default goes through ``requests``,
whose session, adapter and ``urllib3`` pool cost several times the CPU of the
request itself. :class:`KeepAliveTransport` speaks HTTP/1.1 with the standard
library's :mod:`http.client` over keep-alive connections instead:

- a small pool of connections per client, so that threads sharing a client
  (``"sync"`` delivery in a threaded server) never share a connection;
- ``TCP_NODELAY`` and one ``send`` per request (headers and body together);
- a pooled connection the server closed while it was idle is noticed before
  use, and a request that fails on a *reused* connection before any answer
  came back is sent once more on a fresh one (delivery is at least once);
- answers go through :func:`pusher.http.process_response`, so status codes raise
  the library's own exceptions (:exc:`~pusher.errors.PusherBadRequest` for 400,
  :exc:`~pusher.errors.PusherBadAuth` for 401, ...), and network faults raise
  :exc:`TransportError` / :exc:`TransportTimeout`, subclasses of
  :exc:`pusher.errors.PusherError`.

It does not read proxy settings from the environment: the pusher backend
falls back to the library's ``requests`` transport when ``HTTP(S)_PROXY``
applies to the API host (see :meth:`pusherable.backends.pusher.Backend.http_backend_class`).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from typing import Any, cast

from pusher.errors import PusherError
from pusher.http import process_response

__all__ = ["KeepAliveTransport", "TransportError", "TransportTimeout"]


class TransportError(PusherError):
    """The request did not get an answer: connection refused, reset or closed."""


class TransportTimeout(TransportError):
    """No answer within the client's ``timeout``."""


class KeepAliveTransport:
    """A ``pusher`` backend over :mod:`http.client` keep-alive connections.

    :param client: the :class:`pusher.Pusher` (or ``pusher.Client``) using it.
    :param max_idle: most idle connections kept open for reuse.
    :param ssl_context: for ``ssl=True`` clients; by default
        :func:`ssl.create_default_context` (the system's trusted certificates).
    """

    def __init__(
        self,
        client: Any,
        *,
        max_idle: int = 4,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.client = client
        self.max_idle = max(1, int(max_idle))
        self.ssl_context = ssl_context
        if client.ssl and ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    # -- the pusher backend interface ---------------------------------------------

    def send_request(self, request: Any) -> Any:
        """Send a :class:`pusher.http.Request`; return the decoded JSON answer."""
        connection, reused = self._checkout()
        try:
            status, body, keep = self._exchange(connection, request)
        except (ConnectionError, http.client.BadStatusLine) as exc:
            connection.close()
            if not reused:
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
            # The server closed a kept-alive connection as we used it: once more, fresh.
            connection = self.connect()
            try:
                status, body, keep = self._exchange(connection, request)
            except BaseException as retry_exc:
                connection.close()
                raise self._wrap(retry_exc) from retry_exc
        except BaseException as exc:
            connection.close()
            raise self._wrap(exc) from exc
        if keep:
            self._checkin(connection)
        else:
            connection.close()
        return process_response(status, body)

    # -- overridable pieces ---------------------------------------------------------

    def connect(self) -> http.client.HTTPConnection:
        """A new, not yet connected, connection to the client's host."""
        client = self.client
        connection: http.client.HTTPConnection
        if client.ssl:
            connection = http.client.HTTPSConnection(
                client.host, client.port, timeout=client.timeout, context=self.ssl_context
            )
        else:
            connection = http.client.HTTPConnection(
                client.host, client.port, timeout=client.timeout
            )
        return connection

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- internals ------------------------------------------------------------------

    def _exchange(
        self, connection: http.client.HTTPConnection, request: Any
    ) -> tuple[int, str, bool]:
        if connection.sock is None:
            connection.connect()
            # Small requests and answers: do not let Nagle hold them back.
            sock = cast(socket.socket, connection.sock)  # set by connect()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A bytes body goes out in the same send() as the headers.
        connection.request(request.method, request.signed_path, request.body, request.headers)
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, body, not response.will_close

    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self.connect(), False
            if _still_open(connection):
                return connection, True
            connection.close()

    def _checkin(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(connection)
                return
        connection.close()

    def _wrap(self, exc: BaseException) -> BaseException:
        if isinstance(exc, PusherError) or not isinstance(exc, Exception):
            return exc
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TransportTimeout(f"Read timed out after {self.client.timeout:g}s ({exc})")
        if isinstance(exc, (OSError, http.client.HTTPException)):
            return TransportError(f"{type(exc).__name__}: {exc}")
        return exc


def _still_open(connection: http.client.HTTPConnection) -> bool:
    # An idle keep-alive socket is readable only when the server closed it (or
    # sent something unasked for): either way it cannot carry the next request.
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
