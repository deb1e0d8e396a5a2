"""End-to-end latency: from a view rendering to pusher-js receiving the event.

One event at a time, a ``DetailView`` with ``PusherDetailMixin`` renders through
Django's test client (in this process, with the library's delivery path), the
``view`` event goes to the bundled server over its HTTP API, and the real pusher-js
(Node, ``benchmarks/e2e_latency_client.js``), subscribed to the object's private
channel through that server, receives it. Latency is measured on one clock, in this
process: from just before the request to the moment the Node client's line
announcing the event is read (so it includes that last pipe hop, tens of µs).

Side by side in the same run, interleaved event by event, the same event (the
data the view sends, built once beforehand) sent with the ``pusher`` library alone
(no Django, no view): through the library's default ``requests`` transport (what
``pusher.trigger`` costs a project that uses the library directly), and through
the backend's own urllib3 transport. Neither renders a page, so their ratios to
the view count the page's own rendering (about 1 ms through Django's test client
here) as if the library added it. The baseline that does not is the third: the
same page rendered without the mixin, then the same event sent with
``pusher.trigger`` through the same urllib3 transport, as a project without this
library would. The view's ratio to it, ``library added``, is what the library
adds on top of the page and the transport: building the payload, the hand-off,
the sender thread. Run from the project root::

    .venv/bin/python benchmarks/e2e_latency.py [--events 1000] [--warmup 100]
        [--backend-options '{"linger": 0.002}']

Targets on loopback: p50 <= 5 ms, p99 <= 25 ms; the script prints each figure's
ratio to its target (below 1.0x is within target). And what the library adds, in
background mode, at most 1.2x at p50 and at p99.

Delivery is the library's own ``pusherable.backends.pusher.Backend``, measured
in each mode: ``background`` (the default: queued for the delivery thread) and
``sync`` (sent in the request's thread).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.generic import DetailView  # noqa: E402

from pusherable.channels import channel_for  # noqa: E402
from pusherable.conf import DELIVERY_MODES  # noqa: E402
from pusherable.delivery import reset_backend  # noqa: E402
from pusherable.mixins import PusherDetailMixin  # noqa: E402
from pusherable.payload import build_payload  # noqa: E402
from pusherable.server.testing import run_server  # noqa: E402
from tests.testapp.models import Article  # noqa: E402

BACKEND = "pusherable.backends.pusher.Backend"
NODE_CLIENT = ROOT / "benchmarks" / "e2e_latency_client.js"
TARGET_P50_MS = 5.0
TARGET_P99_MS = 25.0
#: The view's latency at most this times the plain view's followed by the same trigger.
TARGET_ADDED = 1.2
WAIT_S = 10.0


class BenchArticleView(PusherDetailMixin, DetailView):
    """The tests' article detail view, with a sequence number in the payload."""

    model = Article
    template_name = "testapp/article_detail.html"

    def get_pusher_payload(self, event: str) -> dict[str, Any]:
        payload = super().get_pusher_payload(event)
        payload["seq"] = int(self.request.GET["seq"])
        return payload


class PlainArticleView(DetailView):
    """The same page without the mixin: the view's own time, for the baseline."""

    model = Article
    template_name = "testapp/article_detail.html"


urlpatterns = [
    path("bench/<int:pk>/", BenchArticleView.as_view(), name="bench-article"),
    path("plain/<int:pk>/", PlainArticleView.as_view(), name="plain-article"),
]


class Receiver:
    """The Node client; each line is stamped with ``perf_counter()`` as soon as it is read."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [shutil.which("node") or "node", str(NODE_CLIENT), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put((time.perf_counter(), json.loads(line)))

    def next(self, expected_type: str) -> tuple[float, dict[str, Any]]:
        try:
            stamp, message = self.lines.get(timeout=WAIT_S)
        except queue.Empty:
            raise SystemExit(f"pusher-js said nothing for {WAIT_S:g} s") from None
        if message.get("type") != expected_type:
            raise SystemExit(f"pusher-js: expected {expected_type}, got {message}")
        return stamp, message

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def one_trip(receiver: Receiver, seq: int, send: Callable[[int], None]) -> float:
    start = time.perf_counter()
    send(seq)
    arrived, message = receiver.next("event")
    if message["seq"] != seq:
        raise SystemExit(f"event {seq} expected, {message} received")
    return (arrived - start) * 1000


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with ``fraction`` of them at or below."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]


def deliveries(options: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    suffix = f" {json.dumps(options)}" if options else ""
    return [
        (
            f"{BACKEND}, {mode}{suffix}",
            {
                "PUSHERABLE_BACKEND": BACKEND,
                "PUSHERABLE_DELIVERY": mode,
                "PUSHERABLE_BACKEND_OPTIONS": options,
            },
        )
        for mode in DELIVERY_MODES
    ]


def measure(
    receiver: Receiver, server: Any, channel: str, article: Article, warmup: int, events: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Latencies (ms) through the view, through ``pusher.trigger`` with the library's
    default transport and with the backend's urllib3 transport, and through the plain
    view followed by that trigger, interleaved."""
    import pusher

    from pusherable.backends.http import Urllib3Transport

    client = Client()
    url = f"/bench/{article.pk}/"
    raw_client = server.pusher_client()
    urllib3_client = pusher.Pusher(**server.client_options(), backend=Urllib3Transport)
    # The baselines send the data the view sends (an anonymous visitor's), not a
    # smaller stand-in: the same bytes through the server to pusher-js.
    data = build_payload(article, "view")

    def view(seq: int) -> None:
        response = client.get(url, {"seq": seq})
        if response.status_code != 200:
            raise SystemExit(f"the view answered {response.status_code}")

    def raw(seq: int) -> None:
        raw_client.trigger(channel, "view", {**data, "seq": seq})

    def raw_urllib3(seq: int) -> None:
        urllib3_client.trigger(channel, "view", {**data, "seq": seq})

    def plain_then_trigger(seq: int) -> None:
        response = client.get(f"/plain/{article.pk}/", {"seq": seq})
        if response.status_code != 200:
            raise SystemExit(f"the plain view answered {response.status_code}")
        urllib3_client.trigger(channel, "view", {**data, "seq": seq})

    through_view: list[float] = []
    through_raw: list[float] = []
    through_urllib3: list[float] = []
    through_plain: list[float] = []
    for seq in range(warmup + events):
        # Interleaved, so all see the same machine at the same moment.
        view_ms = one_trip(receiver, 4 * seq, view)
        raw_ms = one_trip(receiver, 4 * seq + 1, raw)
        urllib3_ms = one_trip(receiver, 4 * seq + 2, raw_urllib3)
        plain_ms = one_trip(receiver, 4 * seq + 3, plain_then_trigger)
        if seq >= warmup:
            through_view.append(view_ms)
            through_raw.append(raw_ms)
            through_urllib3.append(urllib3_ms)
            through_plain.append(plain_ms)
    return through_view, through_raw, through_urllib3, through_plain


def row(label: str, values: list[float]) -> str:
    return (
        f"  {label:<28} {statistics.median(values):7.2f} {percentile(values, 0.99):7.2f} "
        f"{statistics.fmean(values):7.2f} {max(values):7.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000, help="events measured per delivery")
    parser.add_argument("--warmup", type=int, default=100, help="events sent first, not counted")
    parser.add_argument(
        "--backend-options",
        type=json.loads,
        default={},
        help="PUSHERABLE_BACKEND_OPTIONS as JSON, e.g. '{\"linger\": 0.002}'",
    )
    args = parser.parse_args()
    if shutil.which("node") is None or not (ROOT / "node_modules" / "pusher-js").is_dir():
        print("This benchmark needs Node.js and the npm packages (npm ci).", file=sys.stderr)
        return 2

    setup_test_environment()
    call_command("migrate", run_syncdb=True, verbosity=0)
    article = Article.objects.create(title="Benchmark")

    node_version = subprocess.check_output(["node", "--version"], text=True).strip()
    print(
        f"End-to-end latency, view render -> bundled server -> pusher-js (Node), "
        f"{args.events} events after {args.warmup} of warm-up, one at a time, loopback"
    )
    print(
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}; Python {platform.python_version()}, "
        f"Django {django.get_version()}, pusher {version('pusher')}, "
        f"aiohttp {version('aiohttp')}, node {node_version}"
    )
    worst = 0.0
    added_worst = 0.0
    with run_server() as server:
        server_settings = {"ROOT_URLCONF": __name__, **server.settings()}
        channel = channel_for(article)
        receiver = Receiver(
            {
                "host": server.host,
                "port": server.port,
                "key": server.key,
                "secret": server.secret,
                "channel": channel,
            }
        )
        try:
            receiver.next("ready")
            for label, delivery in deliveries(args.backend_options):
                with override_settings(**server_settings, **delivery):
                    through_view, through_raw, through_urllib3, through_plain = measure(
                        receiver, server, channel, article, args.warmup, args.events
                    )
                    reset_backend(timeout=5)
                p50 = statistics.median(through_view)
                p99 = percentile(through_view, 0.99)
                worst = max(worst, p50 / TARGET_P50_MS, p99 / TARGET_P99_MS)
                print(f"\ndelivery: {label}")
                print(f"  {'ms':<28} {'p50':>7} {'p99':>7} {'mean':>7} {'max':>7}")
                print(row("view -> pusher-js", through_view))
                print(row("pusher.trigger -> pusher-js", through_raw))
                print(row("  same, via urllib3", through_urllib3))
                print(row("plain view, then trigger", through_plain))
                print(f"  {'target (view)':<28} {TARGET_P50_MS:7.2f} {TARGET_P99_MS:7.2f}")
                print(
                    f"  {'ratio to target':<28} {p50 / TARGET_P50_MS:6.2f}x "
                    f"{p99 / TARGET_P99_MS:6.2f}x"
                )
                print(f"  {'view, as a ratio to':<28} {'p50':>7} {'p99':>7}")
                for name, bare in (
                    ("pusher.trigger", through_raw),
                    ("same via urllib3", through_urllib3),
                    ("plain view, then trigger", through_plain),
                ):
                    print(
                        f"    {name:<26} {p50 / statistics.median(bare):6.2f}x "
                        f"{p99 / percentile(bare, 0.99):6.2f}x"
                    )
                added = (
                    p50 / statistics.median(through_plain),
                    p99 / percentile(through_plain, 0.99),
                )
                if delivery["PUSHERABLE_DELIVERY"] == "background":
                    added_worst = max(added_worst, *added)
                print(
                    f"  {'library added':<28} {added[0]:6.2f}x {added[1]:6.2f}x  "
                    f"(the view against the plain view, then trigger; target "
                    f"{TARGET_ADDED:.1f}x in background mode)"
                )
        finally:
            receiver.close()
    print(f"\n{'within' if worst <= 1 else 'OVER'} target (worst ratio {worst:.2f}x)")
    print(
        f"library added in background mode: {added_worst:.2f}x at worst (p50, p99), "
        f"{'within' if added_worst <= TARGET_ADDED else 'OVER'} the target of {TARGET_ADDED:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
