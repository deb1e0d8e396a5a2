"""Request overhead: a DetailView with PusherDetailMixin against the same view without it.

Views are timed through Django's test client, interleaved in a random order on
every round so that machine noise hits all of them alike, in two passes per API
latency (0, 5 and 50 ms), each against a plain view measured in the same pass:

1. ``plain``, ``ours`` (the same view with ``pusherable.mixins.PusherDetailMixin``
   and the default pusher backend: background delivery), ``plain (A/A)`` (a second,
   identical plain view: the noise floor of the measurement), and a second pair,
   ``plain+user``/``ours+user``, whose template also shows ``request.user`` as
   every page of a CMS does (the mixin names the user in its payload; on such a
   page reading ``request.user`` is already paid for). ``--requests`` rounds.
2. ``plain`` and ``original``: the same view with django-pusherable 0.2.0's mixin,
   installed from PyPI, which builds a ``pusher.Pusher`` and calls the API in the
   request. ``--original-requests`` rounds.

The original has a pass of its own because each of its requests blocks for the
API's latency (up to 50 ms): the CPU idles meanwhile, and whichever fast view
came next would start on a cold CPU, a noise that has nothing to do with the mixin
(an A/A pair of plain views then differs by up to 13%).

Every ratio is printed twice: the ratio of the medians (the target's reading) and
the median of the per-round ratios (each request against the plain view of the
same round, which cancels slower drifts of the machine).

The fake Pusher API runs in another process, not in a thread of this one: a
threaded server in the measured process would take the GIL from the requests
it answers (the original's requests wait for it) and distort every figure.
Run: ``python benchmarks/request_overhead.py [--requests 2000] [--original-requests 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import types

from _common import (
    ROOT,
    describe_machine,
    fake_api,
    load_average,
    load_original,
    median,
    percentile,
)

TARGET_MEDIAN = 1.10
LATENCIES_MS = (0, 5, 50)


def configure(api_settings: dict) -> None:
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "pusherable",
            "tests.testapp",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        ROOT_URLCONF="bench_urls",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    "loaders": [
                        (
                            "django.template.loaders.locmem.Loader",
                            {
                                "bench/detail.html": "<h1>{{ object.subject }}</h1>",
                                "bench/detail_user.html": (
                                    "<h1>{{ object.subject }}</h1><p>{{ view.request.user }}</p>"
                                ),
                            },
                        )
                    ]
                },
            }
        ],
        PUSHERABLE_CHANNEL_TYPE="private",
        **api_settings,
    )


def ours_mixins_available() -> bool:
    """Whether this checkout has ``pusherable.mixins`` (not some other installed copy)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("pusherable.mixins")
    except ImportError:
        return False
    return spec is not None and str(spec.origin or "").startswith(str(ROOT / "pusherable"))


def build_views(original_mixins):
    from django.views.generic import DetailView

    from tests.testapp.models import Ticket

    class PlainView(DetailView):
        model = Ticket
        template_name = "bench/detail.html"

    if ours_mixins_available():
        from pusherable.mixins import PusherDetailMixin

        ours_source = "pusherable.mixins.PusherDetailMixin"
    else:
        from pusherable.channels import channel_for
        from pusherable.delivery import trigger

        class PusherDetailMixin:  # type: ignore[no-redef]
            """Stand-in until the mixins land: the same delivery call a mixin makes."""

            def render_to_response(self, context, **kwargs):
                trigger(
                    channel_for(self.object),
                    "view",
                    {"object": {"subject": self.object.subject}, "user": None},
                )
                return super().render_to_response(context, **kwargs)

        ours_source = "a local view calling pusherable.delivery.trigger() (mixins not available)"

    class OursView(PusherDetailMixin, PlainView):
        pass

    class PlainUserView(PlainView):
        template_name = "bench/detail_user.html"

    class OursUserView(PusherDetailMixin, PlainUserView):
        pass

    class PlainCopyView(PlainView):
        """The plain view again: its ratio to ``plain`` is the noise floor."""

    views = {
        "plain": PlainView,
        "ours": OursView,
        "plain (A/A)": PlainCopyView,
        "plain+user": PlainUserView,
        "ours+user": OursUserView,
    }
    if original_mixins is not None:

        class OriginalView(original_mixins.PusherDetailMixin, PlainView):
            pass

        views["original"] = OriginalView
    return views, ours_source


def point_original_at(original_mixins, api) -> None:
    """0.2.0 only knows hosted clusters: hand its Pusher(...) calls the fake API's address.

    It still builds a new client (and a new HTTP session) per request, as it does.
    """
    import pusher

    def per_request_client(**kwargs):
        kwargs.pop("cluster", None)
        return pusher.Pusher(**kwargs, host=api.host, port=api.port, ssl=False)

    original_mixins.Pusher = per_request_client


def measure(client, urls, rounds, warmup):
    """Time ``rounds`` requests per view, interleaved in a new random order each round.

    Returns ``{name: [seconds, ...]}``, index ``i`` of every list from round ``i``.
    """
    order = list(urls)
    times = {name: [] for name in urls}
    for round_number in range(warmup + rounds):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            response = client.get(urls[name])
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                raise SystemExit(f"{name} answered {response.status_code}")
            if round_number >= warmup:
                times[name].append(elapsed)
    return times


def baseline_of(name: str) -> str:
    return "plain+user" if name.endswith("+user") else "plain"


def summarize(latency_ms, times, names):
    """One row per view: medians, p95s, and both readings of the ratio to its plain view."""
    rows = []
    for name in names:
        baseline = times[baseline_of(name)]
        paired = [own / base for own, base in zip(times[name], baseline, strict=True)]
        rows.append(
            (
                latency_ms,
                name,
                median(times[name]) * 1000,
                percentile(times[name], 0.95) * 1000,
                median(times[name]) / median(baseline),
                percentile(times[name], 0.95) / percentile(baseline, 0.95),
                median(paired),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="Request overhead of the mixin.")
    parser.add_argument(
        "--requests", type=int, default=2000, help="timed requests per view (first pass)"
    )
    parser.add_argument(
        "--original-requests",
        type=int,
        default=300,
        help="timed requests of the original and its plain view (second pass)",
    )
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--backend",
        default="pusherable.backends.pusher.Backend",
        help="PUSHERABLE_BACKEND for ours (to tell the mixin's cost from delivery's)",
    )
    parser.add_argument("--backend-options", default="{}", help="PUSHERABLE_BACKEND_OPTIONS, JSON")
    args = parser.parse_args()

    os.chdir(ROOT)
    sys.modules["bench_urls"] = types.ModuleType("bench_urls")
    original_mixins = load_original()
    rows = []
    ours_source = ""
    with fake_api(0) as first_api:
        configure(
            {
                **first_api.settings(),
                "PUSHERABLE_BACKEND": args.backend,
                "PUSHERABLE_BACKEND_OPTIONS": json.loads(args.backend_options),
            }
        )
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client
        from django.test.utils import override_settings
        from django.urls import path

        from pusherable import delivery
        from tests.testapp.models import Ticket

        call_command("migrate", run_syncdb=True, verbosity=0)
        ticket = Ticket.objects.create(subject="Printer on fire")
        views, ours_source = build_views(original_mixins)
        sys.modules["bench_urls"].urlpatterns = [  # type: ignore[attr-defined]
            path(f"{name}/<uuid:pk>/", view.as_view()) for name, view in views.items()
        ]
        urls = {name: f"/{name}/{ticket.pk}/" for name in views}
        client = Client()

    print(
        f"Request overhead: {args.requests} requests per view after {args.warmup} warm-up "
        f"rounds; the original: {args.original_requests} (a pass of its own, see the docstring)"
    )
    print(f"Machine: {describe_machine()}")
    print(f"Load average before: {load_average()}")
    print(f"ours: {ours_source}, {args.backend}")
    if original_mixins is None:
        print("original: not measured (django-pusherable 0.2.0 could not be installed)")
    first_pass = [name for name in views if name != "original"]
    for latency_ms in LATENCIES_MS:
        with fake_api(latency_ms / 1000) as api, override_settings(**api.settings()):
            delivery.reset_backend(timeout=0)
            if original_mixins is not None:
                point_original_at(original_mixins, api)
            times = measure(
                client, {name: urls[name] for name in first_pass}, args.requests, args.warmup
            )
            backend = delivery.get_backend()
            flushed = backend.flush(60)
            stats = getattr(backend, "stats", None)
            rows.extend(summarize(latency_ms, times, first_pass))
            if original_mixins is not None and args.original_requests > 0:
                second = {name: urls[name] for name in ("plain", "original")}
                times = measure(client, second, args.original_requests, args.warmup)
                rows.extend(summarize(latency_ms, times, ["original"]))
            accepted = api.stats()["events"]
        print(
            f"  API latency {latency_ms} ms: events accepted by the API {accepted}"
            f" (ours flushed: {flushed}; {stats.as_dict() if stats else ''})"
        )

    print()
    header = ("API latency", "view", "median ms", "p95 ms", "median x", "p95 x", "paired x")
    print("{:>11}  {:<12} {:>9} {:>8} {:>8} {:>7} {:>8}".format(*header))
    for latency_ms, name, med, p95, med_ratio, p95_ratio, paired in rows:
        if name in ("plain", "plain+user"):
            continue  # 1.00x by definition; their times are in their pairs' ratios
        print(
            f"{latency_ms:>8} ms  {name:<12} {med:>9.2f} {p95:>8.2f} "
            f"{med_ratio:>7.2f}x {p95_ratio:>6.2f}x {paired:>7.2f}x"
        )
    print()
    noise = max(abs(row[4] - 1) for row in rows if row[1] == "plain (A/A)")
    print(f"Noise floor: two identical plain views differ by up to {noise:.0%} (median x)")
    for name in ("ours", "ours+user"):
        worst = max(row[4] for row in rows if row[1] == name)
        worst_paired = max(row[6] for row in rows if row[1] == name)
        verdict = "meets" if worst <= TARGET_MEDIAN else "MISSES"
        print(
            f"{name}: worst median ratio {worst:.2f}x (paired {worst_paired:.2f}x), "
            f"{verdict} the target of {TARGET_MEDIAN:.2f}x"
        )
    print(f"Load average after: {load_average()}")
    delivery.reset_backend(timeout=5)


if __name__ == "__main__":
    main()
