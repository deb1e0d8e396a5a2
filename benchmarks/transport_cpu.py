"""Transport CPU: process CPU per API request through three HTTP clients.

The ``pusher`` backend sends from threads of the web worker, so every
microsecond of CPU it spends per request competes (for the GIL) with the
requests the worker serves. This script measures, side by side in one run,
the process CPU (:func:`time.process_time`) per single-event ``trigger_batch``
request sent through:

- ``urllib3``: :class:`~pusherable.backends.http.Urllib3Transport`, the
  pusher backend's transport;
- ``requests``: the ``pusher`` library's default backend (a ``requests``
  session, itself on urllib3);
- ``http.client``: a minimal keep-alive :mod:`http.client` exchange, the
  standard library's floor (kept here only, for the comparison).

Part 1 calls ``trigger_batch`` directly, in rounds of ``--round`` requests per
transport in a random order, so that machine noise hits them alike. Part 2
sends lone events through the ``pusher`` delivery backend, one at a time
(``send_events`` then ``flush``), as a CMS page view does: that adds the
sender thread's hand-off to the request.

The fake Pusher API runs in its own process, so its CPU is not counted.
Run: ``python benchmarks/transport_cpu.py [--requests 3000] [--events 1000]``.
"""

from __future__ import annotations

import argparse
import http.client
import random
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import configure_bare_django, describe_machine, fake_api, load_average


class HTTPClientTransport:
    """The former exchange: one keep-alive :class:`http.client.HTTPConnection`."""

    def __init__(self, client: Any, **_options: Any) -> None:
        self.client = client
        self.connection: http.client.HTTPConnection | None = None

    def send_request(self, request: Any) -> Any:
        from pusher.http import process_response

        connection = self.connection
        if connection is None:
            client = self.client
            connection = http.client.HTTPConnection(
                client.host, client.port, timeout=client.timeout
            )
            connection.connect()
            assert connection.sock is not None
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connection = connection
        connection.request(request.method, request.signed_path, request.body, request.headers)
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        if response.will_close:
            connection.close()
            self.connection = None
        return process_response(response.status, body)


def transports() -> dict[str, Any]:
    from pusher.requests import RequestsBackend

    from pusherable.backends.http import Urllib3Transport

    return {
        "urllib3": Urllib3Transport,
        "requests": RequestsBackend,
        "http.client": HTTPClientTransport,
    }


def direct_calls(options: dict, total: int, per_round: int) -> dict[str, tuple[float, float]]:
    """(CPU seconds, wall seconds) per request of ``trigger_batch`` through each transport."""
    import pusher

    clients = {
        name: pusher.Pusher(**options, backend=backend) for name, backend in transports().items()
    }
    batch = [{"channel": "private-article_1", "name": "updated", "data": '{"pk":1}'}]
    for client in clients.values():  # connect, and warm up
        for _ in range(50):
            client.trigger_batch(batch)

    def send(name: str) -> None:
        clients[name].trigger_batch(batch)

    return interleaved(list(clients), send, total, per_round)


def interleaved(
    names: list[str], step: Callable[[str], None], total: int, per_round: int
) -> dict[str, tuple[float, float]]:
    """(CPU seconds, wall seconds) per ``step(name)``, in rounds of ``per_round``
    steps per name, the names in a new random order each round."""
    cpu = dict.fromkeys(names, 0.0)
    wall = dict.fromkeys(names, 0.0)
    order = list(names)
    for _ in range(total // per_round):
        random.shuffle(order)
        for name in order:
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            for _ in range(per_round):
                step(name)
            cpu[name] += time.process_time() - start_cpu
            wall[name] += time.perf_counter() - start_wall
    count = (total // per_round) * per_round
    return {name: (cpu[name] / count, wall[name] / count) for name in names}


def lone_events(options: dict, total: int, per_round: int) -> dict[str, tuple[float, float]]:
    """(CPU seconds, wall seconds) per lone event through the pusher delivery backend."""
    from pusherable.backends.pusher import Backend
    from pusherable.events import Event

    backends = {
        name: Backend(client_options={**options, "backend": backend})
        for name, backend in transports().items()
    }
    event = Event(["private-article_1"], "updated", {"pk": 1})
    try:
        for backend in backends.values():
            for _ in range(20):
                backend.send_events([event])
                backend.flush(10)

        def send(name: str) -> None:
            backends[name].send_events([event])
            if not backends[name].flush(10):
                raise RuntimeError(f"{name}: an event was not delivered within 10 s")

        figures = interleaved(list(backends), send, total, per_round)
        count = (total // per_round) * per_round
        for name, backend in backends.items():
            if backend.stats.sent != count + 20:
                raise RuntimeError(f"{name}: sent {backend.stats.sent}, expected {count + 20}")
        return figures
    finally:
        for backend in backends.values():
            backend.close(5)


def report(title: str, figures: dict[str, tuple[float, float]]) -> None:
    ours_cpu = figures["urllib3"][0]
    print(f"\n{title}")
    print(f"{'transport':<12} {'CPU µs/req':>11} {'wall µs/req':>12} {'CPU vs urllib3':>15}")
    for name in ("urllib3", "requests", "http.client"):
        cpu, wall = figures[name]
        print(f"{name:<12} {cpu * 1e6:>11.1f} {wall * 1e6:>12.1f} {cpu / ours_cpu:>14.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="direct calls per transport")
    parser.add_argument("--events", type=int, default=1000, help="lone events per transport")
    parser.add_argument("--round", type=int, default=100, help="requests per transport and round")
    args = parser.parse_args()
    configure_bare_django()
    print(describe_machine())
    print(f"load average before: {load_average()}")
    with fake_api() as api:
        options = api.client_options()
        direct = direct_calls(options, args.requests, args.round)
        lone = lone_events(options, args.events, min(args.round, args.events))
        sent = api.stats()["events"]
    print(f"load average after: {load_average()}; the fake API accepted {sent} events")
    report(f"1. trigger_batch of one event, {args.requests} per transport", direct)
    report(f"2. lone events through the pusher backend, {args.events} per transport", lone)
    return 0


if __name__ == "__main__":
    sys.exit(main())
