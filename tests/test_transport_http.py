"""The keep-alive transport on the wire: answers scripted byte by byte on 127.0.0.1, and TLS.

A :class:`ScriptedServer` reads each request and writes the next scripted
answer as given (whole, or a byte at a time), then keeps the connection open
or closes it, so that every framing and fault of an answer can be played.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import queue
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pusher
import pytest
from pusher.errors import PusherBadStatus

from pusherable.backends.transport import KeepAliveTransport, TransportError, TransportTimeout

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class Answer:
    data: bytes
    trickle: bool = False  # one byte per send, a little apart
    close: bool = False  # close the connection after it
    hang: float = 0.0  # wait this long after sending, before going on
    reset: bool = False  # close with a TCP reset (RST) rather than a FIN


@dataclass
class Received:
    head: bytes
    body: bytes
    connection: int


class ScriptedServer:
    """Answers requests with the scripted answers, in order, one connection at a time."""

    def __init__(
        self,
        answers: list[Answer],
        context: ssl.SSLContext | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        self.answers: queue.Queue[Answer] = queue.Queue()
        for answer in answers:
            self.answers.put(answer)
        self.context = context
        self.requests: list[Received] = []
        self.connections = 0
        self.errors: list[BaseException] = []
        self.listener = socket.create_server((address, 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        deadline = time.monotonic() + 20  # a forgotten server stops by itself
        while not self.stopped.is_set() and time.monotonic() < deadline:
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            try:
                raw.settimeout(5)
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if self.context is not None:
                    with contextlib.suppress(ssl.SSLError, OSError):
                        # A client that refuses our certificate ends here.
                        conn = self.context.wrap_socket(raw, server_side=True)
                        self.converse(conn)
                else:
                    self.converse(raw)
            except Exception as exc:  # pragma: no cover - shown by the tests' asserts
                self.errors.append(exc)
            finally:
                raw.close()

    def receive(self, conn: socket.socket) -> bytes:
        # Short waits, so that stop() is not held up by a client keeping its connection.
        while not self.stopped.is_set():
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
        return b""

    def converse(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        data = b""
        while not self.stopped.is_set():
            while b"\r\n\r\n" not in data:
                chunk = self.receive(conn)
                if not chunk:
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(data) < length:
                chunk = self.receive(conn)
                if not chunk:
                    return
                data += chunk
            body, data = data[:length], data[length:]
            self.requests.append(Received(head, body, self.connections))
            try:
                answer = self.answers.get_nowait()
            except queue.Empty:
                answer = Answer(OK)
            if answer.trickle:
                for index in range(len(answer.data)):
                    conn.sendall(answer.data[index : index + 1])
                    time.sleep(0.0005)
            elif answer.data:
                conn.sendall(answer.data)
            if answer.hang:
                self.stopped.wait(answer.hang)
            if answer.reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                return
            if answer.close:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
                return

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)
        self.listener.close()


@pytest.fixture
def serve():
    servers: list[ScriptedServer] = []

    def start(
        *answers: Answer, context: ssl.SSLContext | None = None, address: str = "127.0.0.1"
    ) -> ScriptedServer:
        server = ScriptedServer(list(answers), context, address)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
        assert server.errors == []


def client_for(server: ScriptedServer, timeout: float = 5, **options: Any) -> pusher.Pusher:
    return pusher.Pusher(
        app_id="1",
        key="k",
        secret="s",
        host=options.pop("host", "127.0.0.1"),
        port=server.port,
        ssl=options.pop("ssl", False),
        timeout=timeout,
        backend=options.pop("backend", KeepAliveTransport),
        **options,
    )


def idle(client: pusher.Pusher) -> list[socket.socket]:
    return client._pusher_client.http._idle


def trigger(client: pusher.Pusher) -> Any:
    return client.trigger("private-a_1", "e", {"n": 1})


# -- the request ---------------------------------------------------------------------------


def test_the_request_carries_host_length_and_the_librarys_headers(serve):
    server = serve()
    client = client_for(server)
    assert trigger(client) == {}
    [received] = server.requests
    request_line, *header_lines = received.head.decode("latin-1").split("\r\n")
    assert request_line.startswith("POST /apps/1/events?auth_key=k&")
    assert request_line.endswith(" HTTP/1.1")
    headers = dict(line.split(": ", 1) for line in header_lines)
    assert headers["Host"] == f"127.0.0.1:{server.port}"
    assert headers["Content-Length"] == str(len(received.body))
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Pusher-Library"].startswith("pusher-http-python ")
    assert headers["Accept-Encoding"] == "identity"
    assert b'"name": "e"' in received.body


class CountingSocket:
    """A socket stand-in that counts the sends of the transport."""

    def __init__(self, sock: socket.socket, sends: list[int]) -> None:
        self.sock = sock
        self.sends = sends

    def sendall(self, data: bytes) -> None:
        self.sends.append(len(data))
        self.sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def test_a_request_goes_out_in_one_send_on_a_nodelay_socket(serve):
    server = serve()
    sends: list[int] = []
    nodelay = []

    class Counting(KeepAliveTransport):
        def connect(self):
            sock = super().connect()
            nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            return CountingSocket(sock, sends)

    client = client_for(server, backend=Counting)
    for _ in range(3):
        assert trigger(client) == {}
    assert len(sends) == 3
    assert server.connections == 1
    assert nodelay == [1]
    assert sends[0] == len(server.requests[0].head) + 4 + len(server.requests[0].body)


# -- framing -------------------------------------------------------------------------------


CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4;name=value\r\n{"ok\r\n7\r\n": true\r\n1\r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n'
)


@pytest.mark.parametrize("trickle", [False, True], ids=["whole", "byte-by-byte"])
@pytest.mark.parametrize(
    "data",
    [
        OK,
        CHUNKED,
        b"HTTP/1.1 100 Continue\r\n\r\n" + OK,
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n" + CHUNKED,
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["content-length", "chunked", "100-continue", "interim-then-chunked", "http-1.0-kept"],
)
def test_answers_that_keep_the_connection(serve, data, trickle):
    server = serve(Answer(data, trickle=trickle))
    client = client_for(server)
    expected = {"ok": True} if b"chunked" in data else {}
    assert trigger(client) == expected
    assert len(idle(client)) == 1
    assert trigger(client) == {}  # the next scripted answer: OK, on the same connection
    assert server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        Answer(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", close=True),
        Answer(b"HTTP/1.0 200 OK\r\n\r\n{}", close=True),
        Answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", close=True),
        Answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}", trickle=True, close=True),
        Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk"),
    ],
    ids=["http-1.0", "http-1.0-until-close", "close", "close-delimited", "longer-than-length"],
)
def test_answers_after_which_the_connection_is_not_reused(serve, answer):
    server = serve(answer)
    client = client_for(server)
    assert trigger(client) == {}
    assert idle(client) == []
    assert trigger(client) == {}
    assert server.connections == 2
    assert len(server.requests) == 2


def test_a_204_answer_has_no_body_and_keeps_the_connection(serve):
    # A body read by the Content-Length would wait for bytes that never come.
    server = serve(Answer(b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"))
    client = client_for(server, timeout=2)
    with pytest.raises(PusherBadStatus, match=r"^204: $"):
        trigger(client)
    assert len(idle(client)) == 1
    assert trigger(client) == {}
    assert server.connections == 1


# -- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", close=True), "2 of 10 body"),
        (Answer(b"HTTP/1.1 200 OK\r\nContent-Le", close=True), "middle of the answer's head"),
        (
            Answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}", close=True),
            "chunked body",
        ),
        (Answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), "chunk size"),
        (Answer(b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}"), "Malformed status line"),
        (Answer(b"SSH-2.0-OpenSSH_9.2\r\n"), "Malformed status line"),
        (Answer(b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n{}"), "Malformed header line"),
        (
            Answer(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"x" * 70_000 + b"\r\n\r\n"),
            "head over 65536 bytes",
        ),
        (
            Answer(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"Content-Length: 2\r\n\r\n{}"),
            "More than 100 header fields",
        ),
        (Answer(b"", close=True), "closed before any answer"),
    ],
    ids=[
        "shorter-than-length",
        "cut-head",
        "cut-chunks",
        "bad-chunk-size",
        "bad-status",
        "not-http",
        "bad-header",
        "huge-head",
        "many-headers",
        "closed-fresh",
    ],
)
def test_malformed_or_cut_answers_are_transport_errors(serve, answer, match):
    server = serve(answer)
    client = client_for(server)
    with pytest.raises(TransportError, match=match) as caught:
        trigger(client)
    assert not isinstance(caught.value, TransportTimeout)
    assert idle(client) == []
    assert len(server.requests) == 1  # a fresh connection's fault is not retried
    assert trigger(client) == {}  # the next request opens a new connection


@pytest.mark.parametrize(
    "fault",
    [Answer(b"", close=True), Answer(b"", reset=True)],
    ids=["closed", "reset"],
)
def test_a_reused_connection_lost_before_the_answer_is_retried_once(serve, monkeypatch, fault):
    from pusherable.backends import transport as transport_module

    server = serve(Answer(OK), fault, Answer(OK))
    client = client_for(server)
    assert trigger(client) == {}
    # The pooled connection looks fine, then ends without answering the next request.
    monkeypatch.setattr(transport_module, "_still_open", lambda sock: True)
    assert trigger(client) == {}
    assert [request.connection for request in server.requests] == [1, 1, 2]


def test_a_fresh_connection_reset_before_the_answer_is_not_retried(serve):
    server = serve(Answer(b"", reset=True))
    client = client_for(server)
    with pytest.raises(TransportError, match="ConnectionResetError"):
        trigger(client)
    assert len(server.requests) == 1


def test_a_reused_connection_cut_mid_answer_is_not_retried(serve):
    server = serve(
        Answer(OK), Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{", close=True)
    )
    client = client_for(server)
    assert trigger(client) == {}
    with pytest.raises(TransportError, match="1 of 9 body bytes"):
        trigger(client)
    assert len(server.requests) == 2


def test_a_body_that_stops_coming_is_a_timeout(serve):
    server = serve(Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{", hang=2))
    client = client_for(server, timeout=0.3)
    with pytest.raises(TransportTimeout, match=r"timed out after 0\.3s"):
        trigger(client)
    assert idle(client) == []


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Path:
    """A throwaway self-signed certificate for localhost and 127.0.0.1, with its key."""
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
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
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
def tls_server(serve, certificate):
    def start(*answers: Answer, address: str = "127.0.0.1") -> ScriptedServer:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate)
        return serve(*answers, context=context, address=address)

    return start


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_tls_with_a_trusted_certificate(tls_server, certificate, host):
    server = tls_server(Answer(CHUNKED))
    trusted = ssl.create_default_context(cafile=str(certificate))
    client = client_for(server, ssl=True, host=host, ssl_context=trusted)
    assert trigger(client) == {"ok": True}
    assert trigger(client) == {}
    assert server.connections == 1
    [sock] = idle(client)
    assert isinstance(sock, ssl.SSLSocket)
    assert sock.server_hostname == host
    client._pusher_client.http.close()


def test_tls_refuses_an_untrusted_certificate(tls_server):
    server = tls_server()
    client = client_for(server, ssl=True, host="localhost")  # the system's trusted CAs
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        trigger(client)
    assert server.requests == []


def test_tls_checks_the_host_name(tls_server, certificate):
    # Another loopback address, trusted certificate, but not issued for that address.
    server = tls_server(address="127.0.0.2")
    trusted = ssl.create_default_context(cafile=str(certificate))
    client = client_for(server, ssl=True, host="127.0.0.2", ssl_context=trusted)
    with pytest.raises(TransportError, match=r"CERTIFICATE_VERIFY_FAILED.*mismatch"):
        trigger(client)
    assert server.requests == []
