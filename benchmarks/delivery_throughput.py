"""Delivery throughput: a burst of 10,000 events from one process to a fast local API.

Events per second from the first trigger until the API accepted the last event,
for our pusher backend (one client, background worker, batches of 10) and, in
the same run, for the original django-pusherable 0.2.0's pattern: a new
``pusher.Pusher`` client and one ``trigger`` call per event.

The fake Pusher API runs in another process; when the bundled server
(``pusherable.server``) is available it is measured too.
Run: ``python benchmarks/delivery_throughput.py [--events 10000]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager

from _common import ROOT, describe_machine, fake_api

TARGET = 10_000


def configure() -> None:
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["pusherable"],
        DATABASES={},
        PUSHERABLE_BACKEND="pusherable.backends.dummy.Backend",
    )
    import django

    django.setup()


def ours(client_options: dict, count: int) -> float:
    from pusherable import delivery
    from pusherable.backends.pusher import Backend

    backend = Backend(client_options=client_options, queue_size=count)
    previous = delivery.set_backend(backend)
    try:
        start = time.perf_counter()
        for i in range(count):
            delivery.trigger("private-ticket_1", "view", {"i": i}, on_commit=False)
        # flush() returns once the API answered 200 to the last batch.
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
        # What 0.2.0 does on every render: a new client (and HTTP session), one call.
        pusher.Pusher(**client_options).trigger(["ticket_1"], "view", {"i": i})
    return count / (time.perf_counter() - start)


@contextmanager
def bundled_server():
    import importlib.util

    try:
        spec = importlib.util.find_spec("pusherable.server.testing")
    except ImportError:
        spec = None
    # Only this checkout's server (not another installed copy of the package).
    if spec is None or not str(spec.origin or "").startswith(str(ROOT / "pusherable")):
        yield None
        return
    from pusherable.server.testing import run_server

    with run_server() as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description="Delivery throughput.")
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    os.chdir(ROOT)
    configure()
    print(f"Delivery throughput: a burst of {args.events} events from one process")
    print(f"Machine: {describe_machine()}")
    rows = []
    with fake_api(0) as api:
        for name, run in (("ours", ours), ("original pattern", original_pattern)):
            before = api.stats()["events"]
            rate = run(api.client_options(), args.events)
            received = api.stats()["events"] - before
            if received != args.events:
                raise SystemExit(f"{name}: the API received {received} of {args.events} events")
            rows.append(("fake API", name, rate))
    with bundled_server() as server:
        if server is None:
            print(
                "(the bundled server is not in this checkout: measured against the fake API only)"
            )
        else:
            options = {
                "app_id": server.app_id,
                "key": server.key,
                "secret": server.secret,
                "host": server.host,
                "port": server.port,
                "ssl": False,
            }
            for name, run in (("ours", ours), ("original pattern", original_pattern)):
                rows.append(("bundled", name, run(options, args.events)))
    print()
    for where, name, rate in rows:
        print(f"  {where:<9} {name:<17} {rate:>9,.0f} events/s")
    by_key = {(where, name): rate for where, name, rate in rows}
    for where in dict.fromkeys(where for where, _, _ in rows):
        ratio = by_key[(where, "ours")] / by_key[(where, "original pattern")]
        print(f"{where}: ours / original pattern = {ratio:.1f}x")
    worst = min(rate for _, name, rate in rows if name == "ours")
    verdict = "meets" if worst >= TARGET else "MISSES"
    print(f"ours: at least {worst:,.0f} events/s, {verdict} the target of {TARGET:,} events/s")


if __name__ == "__main__":
    sys.exit(main())
