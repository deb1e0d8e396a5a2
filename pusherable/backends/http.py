"""The HTTP transport of the pusher backend: the Pusher HTTP API through urllib3.

The ``pusher`` library builds and signs every request (path, query string,
``auth_signature``, JSON body) and hands it to a pluggable *backend* object's
``send_request()``; its default sends through ``requests``.
:class:`Urllib3Transport` sends the same request through a :mod:`urllib3`
connection pool instead (urllib3 is what ``requests`` itself sends through, and a
dependency of the ``pusher`` library): keep-alive connections shared by the
sender threads, without the session and adapter layers of ``requests``, which
cost several times the CPU of the request itself (``benchmarks/transport_cpu.py``).

- **TLS** trusts what the ``pusher`` library trusts: the certificate bundle it
  ships (:data:`pusher.requests.CERT_PATH`, which its ``requests`` backend passes
  as ``verify``), unless ``ca_certs`` names another; the host name is checked.
- **Proxies**, like ``requests``: ``HTTPS_PROXY`` / ``HTTP_PROXY`` (by the API's
  scheme) and ``NO_PROXY`` from the environment, read when the client is built,
  unless ``proxy`` gives a URL (or ``False`` for none).
- **Timeouts**: the client's ``timeout`` (:data:`PUSHERABLE_TIMEOUT`) to connect,
  and again to read the answer.
- **Answers**: 200 and 202 carry JSON; any other status raises :exc:`APIError`
  with the status. Some Pusher-compatible servers (soketi) answer an API error with
  status 200 and a JSON body such as ``{"error": "...", "code": 401}``: that too
  raises :exc:`APIError`, with the body's ``code`` as its status.
- A request that fails because the server closed a kept-alive connection as it
  was reused (before any answer) is sent once more, on another connection;
  delivery is *at least once* anyway.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from typing import Any

import urllib3
from pusher.errors import PusherBadStatus

__all__ = ["APIError", "Urllib3Transport", "close_transport", "proxy_for"]

# What a kept-alive connection closed under us raises before any answer came back.
_CLOSED_UNDER_US = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class APIError(PusherBadStatus):
    """Raised when the Pusher API answers with an error.

    ``status`` is the HTTP status, or, for a 2xx answer whose JSON body reports
    an error, the body's ``code`` (``None`` when it has none); ``body`` is the
    answer's text. A subclass of the ``pusher`` library's
    :exc:`~pusher.errors.PusherBadStatus`.
    """

    def __init__(self, status: int | None, body: str) -> None:
        super().__init__(f"{status if status is not None else 'error'}: {body[:300]}")
        self.status = status
        self.body = body


def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy URL the environment gives for ``scheme://host``, as ``requests`` reads it.

    ``HTTPS_PROXY`` or ``HTTP_PROXY`` (either case, ``ALL_PROXY`` as a fallback),
    unless ``NO_PROXY`` lists the host.
    """
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def _ca_bundle() -> str:
    # The pusher library's own bundle: the trust its default (requests) backend uses.
    from pusher.requests import CERT_PATH

    return CERT_PATH


class Urllib3Transport:
    """A ``pusher`` library backend that sends through a :mod:`urllib3` pool.

    The ``pusher`` library builds it as ``backend(client, **options)``: pass the
    options in the client's keyword arguments (the pusher delivery backend sets
    ``maxsize`` and ``proxy`` itself).

    :param client: the ``pusher.Client`` using it (its host, port, ``ssl`` and
        ``timeout``).
    :param maxsize: connections kept open for reuse; more may be opened at once
        (threads sharing the client in ``"sync"`` delivery), and those are closed
        after use.
    :param proxy: ``None`` (the default) for the proxy the environment gives
        (:func:`proxy_for`), ``False`` for none, or a proxy URL.
    :param ca_certs: a file of trusted CA certificates for ``ssl=True`` clients;
        by default the ``pusher`` library's bundle.
    """

    def __init__(
        self,
        client: Any,
        *,
        maxsize: int = 4,
        proxy: str | bool | None = None,
        ca_certs: str | None = None,
    ) -> None:
        self.client = client
        scheme = "https" if client.ssl else "http"
        self.base_url = f"{scheme}://{client.host}:{client.port}"
        if proxy is None:
            proxy = proxy_for(scheme, client.host)
        self.proxy: str | None = proxy if isinstance(proxy, str) and proxy else None
        options: dict[str, Any] = {
            "num_pools": 1,
            "maxsize": max(1, int(maxsize)),
            "block": False,
            "timeout": urllib3.Timeout(connect=client.timeout, read=client.timeout),
            # Retries are the delivery backend's job: its backoff, its deadline.
            "retries": False,
        }
        if client.ssl:
            options["cert_reqs"] = "CERT_REQUIRED"
            options["ca_certs"] = ca_certs or _ca_bundle()
        self.manager: urllib3.PoolManager
        if self.proxy:
            self.manager = urllib3.ProxyManager(self.proxy, **options)
        else:
            self.manager = urllib3.PoolManager(**options)
        # One host: its pool, looked up once rather than on every request.
        self._pool = self.manager.connection_from_url(self.base_url)

    def send_request(self, request: Any) -> Any:
        """Send a :class:`pusher.http.Request`; return the decoded JSON answer.

        :raises APIError: for an error answer.
        :raises urllib3.exceptions.HTTPError: for a network fault (refused,
            reset, timed out, TLS), from :mod:`urllib3` as is.
        """
        try:
            response = self._send(request)
        except urllib3.exceptions.ProtocolError as exc:
            if not isinstance(exc.__context__, _CLOSED_UNDER_US):
                raise
            response = self._send(request)
        status = response.status
        body = response.data.decode("utf-8", "replace")
        if status not in (200, 202):
            raise APIError(status, body)
        # A body that is not JSON raises json.JSONDecodeError (the pusher backend
        # counts such an answer as delivered and says the server is odd).
        answer = json.loads(body)
        if isinstance(answer, dict) and "error" in answer:
            code = answer.get("code")
            raise APIError(code if type(code) is int else None, body)
        return answer

    def _send(self, request: Any) -> urllib3.BaseHTTPResponse:
        if self.proxy and self.base_url.startswith("http:"):
            # A plain-HTTP request through a proxy names the whole URL; the
            # manager adds the proxy's headers.
            return self.manager.urlopen(
                request.method,
                self.base_url + request.signed_path,
                body=request.body,
                headers=request.headers,
                redirect=False,
            )
        return self._pool.urlopen(
            request.method,
            request.signed_path,
            body=request.body,
            headers=request.headers,
            redirect=False,
            assert_same_host=False,
        )

    def close(self) -> None:
        """Close every pooled connection (one in use is closed when it is given back)."""
        # urllib3 2 no longer closes the pools a PoolManager forgets in clear():
        # close ours first.
        self._pool.close()
        self.manager.clear()


def close_transport(client: Any) -> None:
    """Close the kept-alive connections of a ``pusher`` client (or of its inner
    ``pusher_client``) that sends through :class:`Urllib3Transport`; another
    transport is left as it is."""
    transport = getattr(getattr(client, "_pusher_client", client), "http", None)
    if isinstance(transport, Urllib3Transport):
        transport.close()
