"""A lean HTTP transport for the :class:`pusher.Pusher` client.

The ``pusher`` library sends its requests through a pluggable *backend* class
(``pusher.Pusher(..., backend=...)``); its default goes through ``requests``,
whose session, adapter and ``urllib3`` pool cost several times the CPU of the
request itself, and even the standard library's :mod:`http.client` spends most
of a small request's CPU building the request and parsing the answer's headers
with the :mod:`email` package. :class:`KeepAliveTransport` speaks HTTP/1.1 over
plain (or TLS) sockets itself, with the message handling of
:mod:`pusherable.backends.http11`:

- a small pool of keep-alive connections per client, so that threads sharing a
  client (``"sync"`` delivery in a threaded server) never share a connection;
- ``TCP_NODELAY`` and one ``sendall`` per request (request line, headers and
  body together), with ``Host``, ``Content-Length`` and the ``pusher``
  request's own headers;
- answers read as HTTP/1.0 or 1.1: interim ``1xx`` answers skipped, headers
  bounded (64 KiB, 100 fields), bodies framed by ``Content-Length``, chunks
  or the end of the connection; a connection is kept only when the server
  keeps it (HTTP/1.1 unless ``Connection: close``, HTTP/1.0 only with
  ``Connection: keep-alive``) and nothing unread is left on it;
- a pooled connection the server closed while it was idle is noticed before
  use, and a request that fails on a *reused* connection before any byte of
  an answer came back is sent once more on a fresh one (delivery is at least
  once);
- ``ssl=True`` clients verify the server's certificate and name with the
  transport's :class:`ssl.SSLContext`, as :class:`http.client.HTTPSConnection`
  would;
- answers go through :func:`pusher.http.process_response`, so status codes raise
  the library's own exceptions (:exc:`~pusher.errors.PusherBadRequest` for 400,
  :exc:`~pusher.errors.PusherBadAuth` for 401, ...), and network faults and
  malformed answers raise :exc:`TransportError` / :exc:`TransportTimeout`,
  subclasses of :exc:`pusher.errors.PusherError`.

It does not read proxy settings from the environment: the pusher backend
falls back to the library's ``requests`` transport when ``HTTP(S)_PROXY``
applies to the API host (see :meth:`pusherable.backends.pusher.Backend.http_backend_class`).
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from typing import Any

from pusher.errors import PusherError
from pusher.http import process_response

from .http11 import (
    NoResponse,
    ProtocolError,
    Response,
    ResponseParser,
    encode_request,
    host_header,
)

__all__ = ["KeepAliveTransport", "TransportError", "TransportTimeout"]

#: Bytes asked of each ``recv()``: a Pusher answer fits in one.
RECV_SIZE = 65536

# What a kept-alive connection the server closed under us raises when nothing
# of an answer came back yet (a TLS connection may end without close_notify).
_CLOSED_UNDER_US = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)


class TransportError(PusherError):
    """Raised when a request got no valid answer: connection refused, reset or
    closed, or an answer that is not valid HTTP/1.x."""


class TransportTimeout(TransportError):
    """Raised when no answer came within the client's ``timeout``."""


class KeepAliveTransport:
    """A ``pusher`` backend speaking HTTP/1.1 over keep-alive sockets.

    :param client: the :class:`pusher.Pusher` (or ``pusher.Client``) using it.
    :param max_idle: most idle connections kept open for reuse.
    :param ssl_context: for ``ssl=True`` clients; by default
        :func:`ssl.create_default_context` (the system's trusted certificates,
        the host name checked).
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
            self.ssl_context.set_alpn_protocols(["http/1.1"])
        self.host_header = host_header(client.host, client.port, 443 if client.ssl else 80)
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()

    # -- the pusher backend interface ---------------------------------------------

    def send_request(self, request: Any) -> Any:
        """Send a :class:`pusher.http.Request`; return the decoded JSON answer."""
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        payload = encode_request(
            request.method, request.signed_path, request.headers, body, host=self.host_header
        )
        try:
            sock, reused = self._checkout()
        except Exception as exc:
            raise self._wrap(exc) from exc
        try:
            response = self.exchange(sock, payload, request.method)
        except NoResponse as exc:
            sock.close()
            if not reused:
                raise self._wrap(exc) from exc
            # The server closed a kept-alive connection as we used it: once more, fresh.
            try:
                sock = self.connect()
                response = self.exchange(sock, payload, request.method)
            except BaseException as retry_exc:
                sock.close()  # the fresh one, or again the closed one if connect() failed
                raise self._wrap(retry_exc) from retry_exc
        except BaseException as exc:
            sock.close()
            raise self._wrap(exc) from exc
        if response.keep_alive:
            self._checkin(sock)
        else:
            sock.close()
        return process_response(response.status, response.body.decode("utf-8", "replace"))

    # -- overridable pieces ---------------------------------------------------------

    def connect(self) -> socket.socket:
        """Open a new connection to the client's host and return its socket.

        The socket is connected, has the client's ``timeout`` and
        ``TCP_NODELAY`` set, and for ``ssl=True`` clients is wrapped with
        :attr:`ssl_context` (the certificate checked against the host name).
        """
        client = self.client
        sock = socket.create_connection((client.host, client.port), timeout=client.timeout)
        try:
            # Small requests and answers: do not let Nagle hold them back.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if client.ssl:
                assert self.ssl_context is not None  # set in __init__ for ssl clients
                sock = self.ssl_context.wrap_socket(sock, server_hostname=client.host)
        except BaseException:
            sock.close()
            raise
        return sock

    def exchange(self, sock: socket.socket, payload: bytes, method: str) -> Response:
        """Send a request's bytes on ``sock`` and read the answer.

        :raises ~pusherable.backends.http11.NoResponse: when the connection was
            closed or reset before any byte of an answer (safe to send again).
        :raises ~pusherable.backends.http11.ProtocolError: for an answer that
            is malformed or cut short; :exc:`OSError` for network faults.
        """
        parser = ResponseParser(method)
        recv = sock.recv
        try:
            sock.sendall(payload)
            while True:
                data = recv(RECV_SIZE)
                if not data:
                    return parser.feed_eof()
                response = parser.feed(data)
                if response is not None:
                    return response
        except _CLOSED_UNDER_US as exc:
            if parser.received:
                raise
            raise NoResponse(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    # -- internals ------------------------------------------------------------------

    def _checkout(self) -> tuple[socket.socket, bool]:
        while True:
            with self._lock:
                sock = self._idle.pop() if self._idle else None
            if sock is None:
                return self.connect(), False
            if _still_open(sock):
                return sock, True
            sock.close()

    def _checkin(self, sock: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(sock)
                return
        sock.close()

    def _wrap(self, exc: BaseException) -> BaseException:
        if isinstance(exc, PusherError) or not isinstance(exc, Exception):
            return exc
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TransportTimeout(f"Read timed out after {self.client.timeout:g}s ({exc})")
        if isinstance(exc, ProtocolError):
            return TransportError(f"{exc} ({self.host_header})")
        if isinstance(exc, OSError):
            return TransportError(f"{type(exc).__name__}: {exc}")
        return exc


def _still_open(sock: socket.socket) -> bool:
    # An idle keep-alive socket is readable only when the server closed it (or
    # sent something unasked for): either way it cannot carry the next request.
    if sock.fileno() < 0:
        return False
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False  # decrypted bytes nobody asked for
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable
