"""Delivery throughput: a burst of 10,000 events from one process to the bundled server.

Events per second from the first :func:`pusherable.trigger` until the API
accepted the last event (``flush()`` returns once the last batch was answered
200), measured side by side in one run:

- ``ours, 1 channel``: every event on one channel. A channel's events go
  through one sender, one batch of 10 at a time, so that they keep their order:
  this is the slowest case for us.
- ``ours, 100 channels``: the same burst spread over 100 objects' channels
  (one per object, as the mixins send them), so that the backend's senders
  (4 by default) have several requests in flight.
- ``ours via requests``: one channel, through the ``pusher`` library's
  ``requests`` transport instead of the backend's urllib3 pool, to show what the
  transport is worth.
- ``original pattern``: what django-pusherable 0.2.0 does on every render, a new
  ``pusher.Pusher`` client (and HTTP session) and one ``trigger`` per event. It is
  slow, so by default it sends 2,000 events; its rate is the same over 10,000.

The API runs in its own process: the bundled server started with
:func:`pusherable.server.testing.run_server` (as the issue asks), then the fake
Pusher API of the test suite, which also counts the events it received (checked
here). Each of our rows is the median of ``--repeat`` bursts.

Run: ``python benchmarks/delivery_throughput.py [--events 10000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from _common import ROOT, configure_bare_django, describe_machine, fake_api, load_average
from pusher.requests import RequestsBackend

TARGET = 10_000


def ours(client_options: dict, count: int, channels: int = 1, **backend_options) -> float:
    from pusherable import delivery
    from pusherable.backends.pusher import Backend

    backend = Backend(client_options=client_options, queue_size=count, **backend_options)
    names = [f"private-ticket_{n}" for n in range(channels)]
    previous = delivery.set_backend(backend)
    try:
        start = time.perf_counter()
        for i in range(count):
            delivery.trigger(names[i % channels], "view", {"i": i}, on_commit=False)
        flushed = backend.flush(120)
        elapsed = time.perf_counter() - start
    finally:
        delivery.set_backend(previous)
        backend.close(5)
    if not flushed or backend.stats.sent != count:
        raise SystemExit(f"ours: not every event was accepted: {backend.stats}")
    return count / elapsed


def original_pattern(client_options: dict, count: int) -> float:
    import pusher

    start = time.perf_counter()
    for i in range(count):
        pusher.Pusher(**client_options).trigger(["ticket_1"], "view", {"i": i})
    return count / (time.perf_counter() - start)


def runs(args: argparse.Namespace) -> list[tuple[str, Callable[[dict], float], int]]:
    count = args.events
    return [
        ("ours, 1 channel", lambda options: ours(options, count), count),
        ("ours, 100 channels", lambda options: ours(options, count, channels=100), count),
        (
            "ours via requests",
            lambda options: ours({**options, "backend": RequestsBackend}, count),
            count,
        ),
        (
            "original pattern",
            lambda options: original_pattern(options, args.original_events),
            args.original_events,
        ),
    ]


def measure(where: str, options: dict, args: argparse.Namespace, count_events=None) -> list:
    rows = []
    for name, run, events in runs(args):
        repeat = 1 if name == "original pattern" else args.repeat
        rates = []
        for _ in range(repeat):
            before = count_events() if count_events else None
            rates.append(run(options))
            if count_events:
                received = count_events() - before
                if received != events:
                    raise SystemExit(f"{name}: the API received {received} of {events} events")
        rows.append((where, name, statistics.median(rates), min(rates), max(rates)))
        print(f"  {where:<14} {name:<19} {rows[-1][2]:>9,.0f} events/s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Delivery throughput.")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--original-events", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3, help="bursts per row of ours")
    args = parser.parse_args()
    os.chdir(ROOT)
    configure_bare_django()
    from pusherable.server.testing import run_server

    print(f"Delivery throughput: a burst of {args.events:,} events from one process")
    print(f"Machine: {describe_machine()}")
    print(f"Load average before: {load_average()}")
    rows = []
    with run_server() as server:
        rows += measure("bundled server", server.client_options(), args)
    with fake_api(0) as api:
        rows += measure("fake API", api.client_options(), args, lambda: api.stats()["events"])
    print()
    print(f"{'API':<14} {'sender':<19} {'events/s':>9} {'min':>9} {'max':>9}")
    for where, name, rate, low, high in rows:
        print(f"{where:<14} {name:<19} {rate:>9,.0f} {low:>9,.0f} {high:>9,.0f}")
    by_key = {(where, name): rate for where, name, rate, _, _ in rows}
    print()
    for where in dict.fromkeys(where for where, *_ in rows):
        original = by_key[(where, "original pattern")]
        for name in ("ours, 1 channel", "ours, 100 channels", "ours via requests"):
            print(f"{where}: {name} / original pattern = {by_key[(where, name)] / original:.1f}x")
    ours_rows = [
        (where, name, rate)
        for where, name, rate, _, _ in rows
        if where == "bundled server" and name.startswith("ours, ")
    ]
    worst = min(rate for _, _, rate in ours_rows)
    verdict = "meets" if worst >= TARGET else "MISSES"
    print(
        f"ours to the bundled server: at least {worst:,.0f} events/s (median of "
        f"{args.repeat}), {verdict} the target of {TARGET:,} events/s"
    )
    print(f"Load average after: {load_average()}")


if __name__ == "__main__":
    sys.exit(main())
