"""The keep-alive HTTP transport of the pusher backend, and its several senders.

Against the fake Pusher API, a hand-written socket server (for connections the
server closes) and the bundled server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import defaultdict
from typing import Any

import pusher
import pytest
from pusher.errors import PusherBadAuth, PusherBadRequest, PusherBadStatus, PusherForbidden
from pusher.requests import RequestsBackend

from pusherable.backends import transport as transport_module
from pusherable.backends.pusher import Backend
from pusherable.backends.transport import KeepAliveTransport, TransportError, TransportTimeout
from pusherable.events import Event
from pusherable.exceptions import ConfigurationError, TransientDeliveryError
from tests.fake_pusher import FakePusher


def lean_client(options: dict[str, Any]) -> pusher.Pusher:
    return pusher.Pusher(**options, backend=KeepAliveTransport)


# -- the transport ----------------------------------------------------------------------


def test_requests_reuse_one_keep_alive_connection(api):
    client = lean_client(api.client_options())
    transport = client._pusher_client.http
    assert client.trigger("private-a_1", "e", {"n": 1}) == {}
    [connection] = transport._idle
    for n in range(2, 5):
        batch = [{"channel": "private-a_1", "name": "e", "data": str(n)}]
        assert client.trigger_batch(batch) == {}
    assert transport._idle == [connection]
    assert [event["data"] for event in api.events] == [{"n": 1}, 2, 3, 4]
    transport.close()
    assert transport._idle == []


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        (400, PusherBadRequest, "fake"),
        (401, PusherBadAuth, "fake"),
        (403, PusherForbidden, "fake"),
        (404, PusherBadStatus, "^404: "),
        (413, PusherBadStatus, "^413: "),
        (429, PusherBadStatus, "^429: "),
        (500, PusherBadStatus, "^500: "),
    ],
)
def test_error_statuses_raise_the_pusher_librarys_exceptions(api, status, error, match):
    client = lean_client(api.client_options())
    api.fail_next(1, status)
    with pytest.raises(error, match=match):
        client.trigger("a", "e", {})
    # The connection survives an error answer.
    assert len(client._pusher_client.http._idle) == 1
    assert client.trigger("a", "e", {}) == {}


def test_refused_connection_is_a_transport_error(api):
    client = lean_client(api.client_options())
    api.refuse()
    with pytest.raises(TransportError, match="Connection refused") as caught:
        client.trigger("a", "e", {})
    assert isinstance(caught.value, pusher.errors.PusherError)
    assert not isinstance(caught.value, TransportTimeout)


def test_no_answer_within_the_timeout_is_a_transport_timeout(api):
    client = lean_client(api.client_options(timeout=0.3))
    api.hang = True
    try:
        with pytest.raises(TransportTimeout, match=r"Read timed out after 0\.3s"):
            client.trigger("a", "e", {})
    finally:
        api.hang = False
    assert client._pusher_client.http._idle == []  # a timed-out connection is not reused


def test_transport_faults_are_transient_for_the_backend(api):
    backend = Backend(client_options=api.client_options())
    for exc in (
        TransportError("ConnectionRefusedError: [Errno 111] Connection refused"),
        TransportTimeout("Read timed out after 5s"),
    ):
        error = backend.classify_error(exc)
        assert type(error) is TransientDeliveryError
        assert error.status is None


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


@pytest.fixture
def closing_server():
    server = ClosingServer()
    yield server
    server.stop()


def closing_client(server: ClosingServer) -> pusher.Pusher:
    return lean_client(
        {
            "app_id": "1",
            "key": "k",
            "secret": "s",
            "host": "127.0.0.1",
            "port": server.port,
            "ssl": False,
            "timeout": 5,
        }
    )


def test_a_connection_the_server_closed_while_idle_is_not_reused(closing_server):
    client = closing_client(closing_server)
    assert client.trigger("a", "e", {}) == {}
    threading.Event().wait(0.1)  # the server closes its end meanwhile
    assert client.trigger("a", "e", {}) == {}
    assert closing_server.connections == 2
    assert closing_server.answered == 2


def test_a_request_on_a_connection_closed_under_it_is_sent_again(closing_server, monkeypatch):
    client = closing_client(closing_server)
    assert client.trigger("a", "e", {}) == {}
    threading.Event().wait(0.1)
    # As if the server closed the connection between the check and the request.
    monkeypatch.setattr(transport_module, "_still_open", lambda connection: True)
    assert client.trigger("a", "e", {}) == {}
    assert closing_server.connections == 2
    assert closing_server.answered == 2


# -- choosing the transport -------------------------------------------------------------


def transport_of(backend: Backend) -> Any:
    return backend.get_client()._pusher_client.http


def test_keep_alive_transport_is_the_default(api, make_backend, monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    backend = make_backend(senders=6)
    transport = transport_of(backend)
    assert isinstance(transport, KeepAliveTransport)
    assert transport.max_idle == 6  # a connection per sender


def test_a_proxy_in_the_environment_keeps_the_requests_transport(api, make_backend, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert isinstance(transport_of(make_backend()), RequestsBackend)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert isinstance(transport_of(make_backend()), KeepAliveTransport)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("requests", RequestsBackend),
        ("keepalive", KeepAliveTransport),
        ("pusher.requests.RequestsBackend", RequestsBackend),
        (KeepAliveTransport, KeepAliveTransport),
    ],
)
def test_http_backend_option(api, make_backend, choice, expected):
    backend = make_backend(http_backend=choice)
    assert type(transport_of(backend)) is expected
    backend.send_events([Event(["private-a_1"], "e", {})])
    assert backend.flush(10)
    assert backend.stats.sent == 1


def test_unimportable_http_backend_is_a_configuration_error(api, make_backend):
    with pytest.raises(ConfigurationError, match="cannot be imported"):
        make_backend(http_backend="nowhere.Transport").http_backend_class()


# -- several senders ------------------------------------------------------------------


def test_shard_index_is_stable_and_in_range(make_backend):
    backend = make_backend(senders=4)
    channels = [f"private-article_{n}" for n in range(200)]
    indexes = [backend.shard_index(channel) for channel in channels]
    assert indexes == [backend.shard_index(channel) for channel in channels]
    assert set(indexes) == {0, 1, 2, 3}
    assert {make_backend(senders=1).shard_index(channel) for channel in channels} == {0}


def arrival_order(api: FakePusher) -> dict[str, list[int]]:
    order: dict[str, list[int]] = defaultdict(list)
    for event in api.events:
        order[event["channel"]].append(event["data"]["i"])
    return order


def interleaved_events(channels: int, per_channel: int) -> list[Event]:
    return [
        Event([f"private-article_{c}"], "e", {"i": i})
        for i in range(per_channel)
        for c in range(channels)
    ]


def test_several_senders_keep_the_order_of_each_channel(api, make_backend):
    backend = make_backend(senders=4)
    # One call per event, as views make them.
    for event in interleaved_events(channels=20, per_channel=30):
        backend.send_events([event])
    assert backend.flush(30)
    assert backend.stats.sent == 600
    assert len(backend.workers) > 1  # the channels were shared out
    order = arrival_order(api)
    assert len(order) == 20
    assert all(received == list(range(30)) for received in order.values())


def test_order_per_channel_survives_retries(api, make_backend):
    backend = make_backend(senders=3)
    api.fail_next(6, 503)
    backend.send_events(interleaved_events(channels=9, per_channel=20))
    assert backend.flush(30)
    assert backend.stats.sent == 180
    assert backend.stats.retried > 0
    assert all(received == list(range(20)) for received in arrival_order(api).values())


def test_requests_are_in_flight_at_once(api, make_backend):
    backend = make_backend(senders=4)
    api.latency = 0.2
    in_flight = []
    original = backend.send_batch
    lock = threading.Lock()
    now = [0]

    def send_batch(batch):
        with lock:
            now[0] += 1
            in_flight.append(now[0])
        try:
            original(batch)
        finally:
            with lock:
                now[0] -= 1

    backend.send_batch = send_batch
    backend.send_events(interleaved_events(channels=8, per_channel=1))
    assert backend.flush(30)
    assert max(in_flight) > 1


def test_the_oldest_events_are_dropped_across_senders(api, make_backend):
    backend = make_backend(senders=2, queue_size=4, linger=0)
    first = "private-article_0"
    second = next(
        name
        for name in (f"private-article_{n}" for n in range(1, 100))
        if backend.shard_index(name) != backend.shard_index(first)
    )
    api.hang = True
    try:
        # Each sender takes its first event and hangs on it; the rest wait.
        backend.send_events([Event([first], "held", {}), Event([second], "held", {})])
        for _ in range(200):
            if all(shard.in_flight == 1 for shard in backend._shards):  # both in flight
                break
            threading.Event().wait(0.01)
        backend.send_events([Event([first], "old", {}), Event([second], "old", {})])
        backend.send_events([Event([second], "new", {"n": n}) for n in range(4)])
    finally:
        api.hang = False
    assert backend.flush(10)
    assert backend.stats.dropped == 2
    assert sorted(api.names()) == ["held", "held", "new", "new", "new", "new"]


# -- the bundled server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled_server():
    from pusherable.server.testing import run_server

    with run_server() as running:
        yield running


@pytest.mark.e2e
def test_transport_against_the_bundled_server(bundled_server):
    client = lean_client(bundled_server.client_options())
    assert client.trigger("a", "e", {"ok": True}) == {}
    with pytest.raises(PusherBadAuth, match="Invalid signature"):
        lean_client(bundled_server.client_options(secret="wrong")).trigger("a", "e", {})
    with pytest.raises(PusherBadRequest, match="at most 10"):
        client.trigger_batch([{"channel": "a", "name": "e", "data": "x"}] * 11)
    with pytest.raises(PusherBadStatus, match=r"^404: "):
        lean_client(bundled_server.client_options(app_id="999")).trigger("a", "e", {})


@pytest.mark.e2e
def test_backend_delivers_a_burst_to_the_bundled_server(bundled_server):
    backend = Backend(client_options=bundled_server.client_options(), senders=4)
    try:
        backend.send_events(interleaved_events(channels=16, per_channel=50))
        assert backend.flush(60)
        assert backend.stats.as_dict() == {"sent": 800, "retried": 0, "dropped": 0, "failed": 0}
        assert isinstance(transport_of(backend), KeepAliveTransport)
    finally:
        backend.close(5)
