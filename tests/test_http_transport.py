"""The pusher backend's HTTP transport: the ``pusher`` library's requests through urllib3.

Against the fake Pusher API on 127.0.0.1 (over HTTP and HTTPS, and as a proxy),
a socket server that closes every connection after one answer, and the bundled
server.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import pusher
import pytest
import urllib3
from pusher.requests import CERT_PATH

from pusherable.backends.http import APIError, Urllib3Transport, proxy_for
from pusherable.backends.pusher import Backend
from pusherable.events import Event
from pusherable.exceptions import PermanentDeliveryError, TransientDeliveryError
from tests.fake_pusher import FakePusher

pytestmark = pytest.mark.usefixtures("no_proxy_in_the_environment")


def client_for(options: dict[str, Any], **transport_options: Any) -> pusher.Pusher:
    return pusher.Pusher(**options, backend=Urllib3Transport, **transport_options)


def transport_of(client: pusher.Pusher) -> Urllib3Transport:
    return client._pusher_client.http


@contextlib.contextmanager
def closing(client: pusher.Pusher):
    try:
        yield client
    finally:
        transport_of(client).close()


# -- requests and answers ---------------------------------------------------------------


def test_requests_reuse_one_keep_alive_connection(api):
    with closing(client_for(api.client_options())) as client:
        assert client.trigger("private-a_1", "e", {"n": 1}) == {}
        for n in range(2, 5):
            assert client.trigger_batch([{"channel": "private-a_1", "name": "e", "data": n}]) == {}
        assert transport_of(client)._pool.num_connections == 1
    assert [event["data"] for event in api.events] == [{"n": 1}, 2, 3, 4]


def test_the_request_is_the_one_the_library_signed(api):
    # The library builds path, query string, signature and body; the transport sends them.
    with closing(client_for(api.client_options())) as client:
        request = client._pusher_client.trigger.make_request("c", "e", {"a": 1})
        transport_of(client).send_request(request)
    assert api.paths == [request.signed_path]
    assert "auth_signature=" in request.signed_path


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 429, 500, 503])
def test_error_statuses_raise_api_error_with_the_status(api, status):
    with closing(client_for(api.client_options())) as client:
        api.fail_next(1, status)
        with pytest.raises(APIError) as caught:
            client.trigger("a", "e", {})
        assert caught.value.status == status
        assert isinstance(caught.value, pusher.errors.PusherBadStatus)
        # The connection survives an error answer.
        assert client.trigger("a", "e", {}) == {}
        assert transport_of(client)._pool.num_connections == 1


@pytest.mark.parametrize("status", [401, 404, 500])
def test_an_error_in_a_200_body_is_an_api_error_with_its_code(api, status):
    # soketi answers {"error": "...", "code": 401} with status 200.
    api.errors_as_200 = True
    with closing(client_for(api.client_options())) as client:
        api.fail_next(1, status)
        with pytest.raises(APIError) as caught:
            client.trigger("a", "e", {})
    assert caught.value.status == status
    assert f'"code": {status}' in caught.value.body


def test_refused_connection_is_a_transient_fault(api):
    api.refuse()
    with (
        closing(client_for(api.client_options())) as client,
        pytest.raises(urllib3.exceptions.NewConnectionError) as caught,
    ):
        client.trigger("a", "e", {})
    error = Backend(client_options=api.client_options()).classify_error(caught.value)
    assert type(error) is TransientDeliveryError
    assert "ConnectionRefusedError" in str(error)


def test_no_answer_within_the_timeout_is_a_transient_fault(api):
    with closing(client_for(api.client_options(timeout=0.3))) as client:
        api.hang = True
        try:
            with pytest.raises(urllib3.exceptions.ReadTimeoutError) as caught:
                client.trigger("a", "e", {})
        finally:
            api.hang = False
        assert client.trigger("a", "e", {}) == {}
        # The timed-out connection was not reused.
        assert transport_of(client)._pool.num_connections == 2
    assert type(Backend.classify_error(None, caught.value)) is TransientDeliveryError  # type: ignore[arg-type]


class ClosingServer:
    """Answers each request ``{}`` then closes the connection without saying so.

    The way a server ends a keep-alive connection that sat idle too long.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.answered = 0
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        self.listener.settimeout(10)
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            if self.closed.is_set():  # the wake-up connection of stop()
                connection.close()
                return
            self.connections += 1
            with connection:
                connection.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(body) < length:
                    body += connection.recv(65536)
                # Counted before it goes out: the client may check the count
                # as soon as it has the answer.
                self.answered += 1
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 2\r\n\r\n{}"
                )

    def stop(self) -> None:
        self.closed.set()
        # Wake the accept() so that the thread sees ``closed`` and ends.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            pass
        self.thread.join(5)
        self.listener.close()

    def client_options(self) -> dict[str, Any]:
        return {
            "app_id": "1",
            "key": "k",
            "secret": "s",
            "host": "127.0.0.1",
            "port": self.port,
            "ssl": False,
            "timeout": 5,
        }


@pytest.fixture
def closing_server():
    server = ClosingServer()
    yield server
    server.stop()


def test_a_connection_the_server_closed_while_idle_is_not_reused(closing_server):
    with closing(client_for(closing_server.client_options())) as client:
        assert client.trigger("a", "e", {}) == {}
        threading.Event().wait(0.1)  # the server closes its end meanwhile
        assert client.trigger("a", "e", {}) == {}
    assert closing_server.connections == 2
    assert closing_server.answered == 2


def test_a_request_on_a_connection_closed_under_it_is_sent_again(closing_server, monkeypatch):
    with closing(client_for(closing_server.client_options())) as client:
        assert client.trigger("a", "e", {}) == {}
        threading.Event().wait(0.1)
        # As if the server closed the connection between urllib3's check and the request.
        monkeypatch.setattr(urllib3.connectionpool, "is_connection_dropped", lambda conn: False)
        assert client.trigger("a", "e", {}) == {}
    assert closing_server.connections == 2
    assert closing_server.answered == 2


# -- proxies --------------------------------------------------------------------------------


@pytest.fixture
def proxy():
    """A second fake API, standing in for a forward proxy: it records whole URLs."""
    with FakePusher() as server:
        yield server


def test_the_proxy_in_the_environment_is_used(api, proxy, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
    with closing(client_for(api.client_options())) as client:
        assert client.trigger("a", "e", {}) == {}
    assert api.requests == 0
    [path] = proxy.paths
    assert path.startswith(f"http://127.0.0.1:{api.port}/apps/{api.app_id}/events?")


def test_no_proxy_is_honoured(api, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert proxy_for("http", "127.0.0.1") is None
    with closing(client_for(api.client_options())) as client:
        assert client.trigger("a", "e", {}) == {}
    assert (api.requests, proxy.requests) == (1, 0)


def test_the_proxy_option_overrides_the_environment(api, proxy, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
    with closing(client_for(api.client_options(), proxy=False)) as client:
        assert client.trigger("a", "e", {}) == {}
    assert api.requests == 1
    monkeypatch.delenv("http_proxy")
    with closing(client_for(api.client_options(), proxy=f"http://127.0.0.1:{proxy.port}")) as c:
        assert c.trigger("a", "e", {}) == {}
    assert (api.requests, proxy.requests) == (1, 1)


def test_the_backend_passes_its_proxy_option_on(api, proxy, make_backend):
    backend = make_backend(proxy=f"http://127.0.0.1:{proxy.port}")
    backend.send_events([Event(["c"], "e", {})])
    assert backend.flush(10)
    assert backend.stats.sent == 1
    assert proxy.names() == ["e"]


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Path:
    """A throwaway self-signed certificate for ``localhost`` only, with its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("tls") / "localhost.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + certificate.public_bytes(serialization.Encoding.PEM)
    )
    return path


@pytest.fixture
def tls_api(certificate):
    with FakePusher(tls_certificate=str(certificate)) as server:
        yield server


def test_tls_trusts_what_the_pusher_library_trusts(tls_api):
    with closing(client_for(tls_api.client_options(ssl=True, host="localhost"))) as client:
        assert transport_of(client)._pool.ca_certs == CERT_PATH
        # The library's bundle does not hold the throwaway certificate.
        with pytest.raises(urllib3.exceptions.SSLError) as caught:
            client.trigger("a", "e", {})
    assert tls_api.requests == 0
    error = Backend.classify_error(None, caught.value)  # type: ignore[arg-type]
    assert type(error) is PermanentDeliveryError
    assert error.cause == "tls"


def test_tls_with_a_trusted_certificate(tls_api, certificate):
    options = tls_api.client_options(ssl=True, host="localhost")
    with closing(client_for(options, ca_certs=str(certificate))) as client:
        assert client.trigger("a", "e", {}) == {}
        assert client.trigger("a", "e", {}) == {}
        assert transport_of(client)._pool.num_connections == 1
    assert tls_api.requests == 2


def test_tls_checks_the_host_name(tls_api, certificate):
    # A trusted certificate, but issued for "localhost", not for 127.0.0.1.
    options = tls_api.client_options(ssl=True, host="127.0.0.1")
    with (
        closing(client_for(options, ca_certs=str(certificate))) as client,
        pytest.raises(urllib3.exceptions.SSLError, match="match"),
    ):
        client.trigger("a", "e", {})
    assert tls_api.requests == 0


def test_the_backend_passes_its_ca_certs_option_on(tls_api, certificate, caplog):
    options = tls_api.client_options(ssl=True, host="localhost")
    trusting = Backend(client_options=options, ca_certs=str(certificate))
    default = Backend(client_options=options)
    try:
        with caplog.at_level(logging.ERROR, logger="pusherable"):
            for backend in (trusting, default):
                backend.send_events([Event(["c"], "e", {})])
                assert backend.flush(10)
    finally:
        trusting.close(1)
        default.close(1)
    assert (trusting.stats.sent, default.stats.failed) == (1, 1)
    assert "the server's certificate" in caplog.text
    assert ipaddress.ip_address(tls_api.host).is_loopback


# -- the bundled server ---------------------------------------------------------------------


@pytest.mark.e2e
def test_transport_against_the_bundled_server():
    from pusherable.server.testing import run_server

    with run_server() as server:
        with closing(client_for(server.client_options())) as client:
            assert client.trigger("a", "e", {"ok": True}) == {}
            with pytest.raises(APIError) as caught:
                client.trigger_batch([{"channel": "a", "name": "e", "data": "x"}] * 11)
            assert caught.value.status == 400
        for options, status in (
            (server.client_options(secret="wrong"), 401),
            (server.client_options(app_id="999"), 404),
        ):
            with closing(client_for(options)) as client, pytest.raises(APIError) as caught:
                client.trigger("a", "e", {})
            assert caught.value.status == status


def test_closing_the_transport_closes_its_kept_alive_connections(api):
    with closing(client_for(api.client_options())) as client:
        transport = transport_of(client)
        client.trigger("news", "e", {})
        # The pool's queue holds None for each free slot, and the connections kept.
        (connection,) = [c for c in transport._pool.pool.queue if c is not None]
        assert connection.sock is not None  # kept alive
        transport.close()
        assert connection.sock is None


def test_close_transport_closes_ours_and_leaves_another_transport_alone(api):
    from pusher.requests import RequestsBackend

    from pusherable.backends.http import close_transport

    ours = client_for(api.client_options())
    ours.trigger("news", "e", {})
    (connection,) = [c for c in transport_of(ours)._pool.pool.queue if c is not None]
    close_transport(ours)
    assert connection.sock is None
    theirs = pusher.Pusher(**api.client_options(), backend=RequestsBackend)
    close_transport(theirs)  # not ours to close: nothing happens, nothing raises
    close_transport(None)  # a backend closed before its first event has no client
    theirs._pusher_client.http.session.close()
