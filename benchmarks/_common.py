"""Shared helpers of the benchmark scripts (not a benchmark: run_all skips ``_*`` files)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pusherable.server.testing import PusherEndpoint  # noqa: E402 (needs ROOT on the path)

ORIGINAL_VERSION = "0.2.0"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


@contextmanager
def fake_api(latency: float = 0.0):
    """Run the fake Pusher API in its own process (so it does not share our GIL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_pusher", "--latency", str(latency)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        host, port = line.rsplit(" ", 1)[-1].strip().split(":")
        yield FakeAPI(host, int(port))
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class FakeAPI(PusherEndpoint):
    app_id, key, secret = "123456", "fake-key", "fake-secret"

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://{self.host}:{self.port}/_stats", timeout=5) as r:
            return json.loads(r.read())


def load_original() -> ModuleType | None:
    """django-pusherable 0.2.0 from PyPI, imported as ``pusherable_original``.

    It installs as a package named ``pusherable``, like ours, so it goes to a
    temporary directory and is loaded under another name.
    """
    target = Path(tempfile.gettempdir()) / f"django-pusherable-{ORIGINAL_VERSION}"
    package = target / "pusherable"
    if not (package / "mixins.py").exists():
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(target),
                f"django-pusherable=={ORIGINAL_VERSION}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            print(f"(could not install django-pusherable {ORIGINAL_VERSION}: {result.stderr})")
            return None
    spec = importlib.util.spec_from_file_location(
        "pusherable_original",
        package / "__init__.py",
        submodule_search_locations=[str(package)],
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pusherable_original"] = module
    spec.loader.exec_module(module)
    return importlib.import_module("pusherable_original.mixins")


def configure_bare_django() -> None:
    """Django with only this app and no database: enough for delivery benchmarks."""
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["pusherable"],
        DATABASES={},
        PUSHERABLE_BACKEND="pusherable.backends.dummy.Backend",
    )
    import django

    django.setup()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews every figure."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def describe_machine() -> str:
    import django
    import requests
    from pusher.version import VERSION as pusher_version

    import pusherable

    cpus = os.cpu_count()
    memory = ""
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        gib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
        memory = f", {gib:.0f} GiB RAM"
    return (
        f"{platform.system()} {platform.machine()}, {cpus} CPU(s){memory}, "
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"pusher {pusher_version}, requests {requests.__version__}, "
        f"django-pusherable {pusherable.__version__}"
    )
