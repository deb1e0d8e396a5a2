"""Fixtures of the live browser tests of the admin, the collision guard and live lists.

Django runs in pytest-django's ``live_server`` thread (with ``tests.guard_urls``),
each selected Pusher target (:mod:`tests.targets`: the bundled server, soketi, a
two-node soketi cluster) in subprocesses stopped by PID, and Debian's Chromium is
driven by Playwright's synchronous API; on a cluster, each user's pages connect
to a node of their own. pusher-js is served
to the browser from ``node_modules`` by intercepting its CDN address, so nothing
leaves the machine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from pusherable.conf import DEFAULTS
from tests.chromium import launch_chromium, require_chromium
from tests.targets import node_script, require_target, start_target
from tests.tools import require_npm_package

ROOT = Path(__file__).resolve().parents[2]
PUSHER_JS = ROOT / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js"
PASSWORD = "live-pw"

#: Bounds for waits that cross the browser, Django and the bundled server; they do
#: not measure anything.
LIVE_TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    chromium = require_chromium()
    require_npm_package("pusher-js")
    return chromium


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Every live test once per selected target; one server (or cluster) per target.
    if "live_target" in metafunc.fixturenames:
        targets = metafunc.config.pusher_targets  # type: ignore[attr-defined]
        # A feature only some servers have (pytest.mark.pusher_targets): the test is
        # not generated for the others, rather than skipped on them.
        only = metafunc.definition.get_closest_marker("pusher_targets")
        if only is not None:
            targets = [target for target in targets if target in only.args]
        metafunc.parametrize("live_target", targets, indirect=True, scope="session")


@pytest.fixture(scope="session")
def live_target(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    require_target(name)
    return name


@pytest.fixture(scope="session")
def pusher_server(chromium_path, live_target):
    with start_target(live_target) as server:
        yield server


# Module scope, not session: Playwright's synchronous API runs an event loop in the
# main thread for as long as it is started, and tests after these call asyncio.run().
@pytest.fixture(scope="module")
def browser(chromium_path, django_db_setup):
    from playwright.sync_api import sync_playwright

    # Playwright's synchronous API keeps an event loop in this thread, which makes
    # Django refuse database access here; the tests only read their own rows.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, chromium_path)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class LiveServerGate:
    """WSGI middleware of the live server: one request at a time, and none during a flush.

    With an in-memory SQLite database, the live server's threads and the test's
    thread share one connection (as Django's ``LiveServerTestCase`` does), and
    SQLite keeps one transaction per connection. Two requests answered at once
    (two pages authorizing their channels) then meet in each other's transaction
    ("database table is locked", "cannot start a transaction within a
    transaction"), and a request still running when the test's teardown flushes
    the database (an authorization from a page that is closing, a webhook about
    its departure) breaks the flush and writes rows into the next test. So the
    gate lets one request through at a time, from the call to the response's
    ``close()`` (where Django's ``request_finished`` runs), and the teardown
    waits until the requests are over and closes the gate for the flush.
    """

    def __init__(self, application: Callable) -> None:
        self.application = application
        self.lock = threading.Lock()
        self.last_finished = time.monotonic()
        self.closed_for_flush = False

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        from django.conf import settings

        if environ.get("PATH_INFO", "").startswith(settings.STATIC_URL):
            # Static files touch no database: the browser loads them side by side.
            return self.application(environ, start_response)
        self.lock.acquire()
        try:
            response = self.application(environ, start_response)
        except BaseException:
            self._finished()
            raise
        return _GatedResponse(response, self._finished)

    def _finished(self) -> None:
        self.last_finished = time.monotonic()
        self.lock.release()

    def close_for_flush(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until no request has been answered for *quiet* seconds (at most
        *timeout*), then keep the next ones waiting until :meth:`open`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                if time.monotonic() - self.last_finished >= quiet:
                    self.closed_for_flush = True
                    return
                self.lock.release()
            time.sleep(0.02)
        # Still busy: flush anyway rather than hang the suite; the test may fail.

    def open(self) -> None:
        if self.closed_for_flush:
            self.closed_for_flush = False
            self.lock.release()


class _GatedResponse:
    """A WSGI response that reports when the server has closed it (the request's end)."""

    def __init__(self, response: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self.response = response
        self.on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def close(self) -> None:
        try:
            close = getattr(self.response, "close", None)
            if close is not None:
                close()
        finally:
            self.on_close()


@pytest.fixture
def live_server_gate(live_server) -> Iterator[LiveServerGate]:
    """The live server's :class:`LiveServerGate` (installed on first use), open again
    once the test's database is flushed."""
    httpd = live_server.thread.httpd
    if not isinstance(httpd.application, LiveServerGate):
        httpd.set_app(LiveServerGate(httpd.application))
    gate = httpd.application
    yield gate
    gate.open()


# live_server_gate comes before transactional_db, so its teardown (opening the gate)
# comes after the flush.
@pytest.fixture
def live_site(live_server_gate, pusher_server, live_server, settings, transactional_db):
    """Django at ``live_server.url``, delivering to the bundled server."""
    settings.ROOT_URLCONF = "tests.guard_urls"
    for name, value in pusher_server.settings().items():
        setattr(settings, name, value)
    settings.PUSHERABLE_PRESENCE_GRACE_PERIOD = 0.5
    settings.PUSHERABLE_BACKEND = "pusherable.backends.pusher.Backend"
    settings.PUSHERABLE_DELIVERY = "sync"
    from django.core.cache import cache

    cache.clear()
    yield live_server
    from pusherable.delivery import reset_backend

    # The browser contexts are closed by now (fixtures that open them depend on
    # this one): let the requests they and the Pusher target caused finish, and
    # keep later ones out until the database is flushed.
    live_server_gate.close_for_flush()
    reset_backend(timeout=1)


@pytest.fixture
def users(live_site, django_user_model):
    """alice (superuser) and bob (staff who may view and change articles)."""
    from django.contrib.auth.models import Permission

    alice = django_user_model.objects.create_superuser("alice", password=PASSWORD)
    bob = django_user_model.objects.create_user("bob", password=PASSWORD, is_staff=True)
    bob.user_permissions.set(
        Permission.objects.filter(codename__in=["view_article", "change_article", "add_article"])
    )
    return {"alice": alice, "bob": bob}


@pytest.fixture
def login(browser, live_site, users, pusher_server) -> Iterator[Callable]:
    """``login("alice")``: a new browser context signed in to the admin; returns a page."""
    contexts = []
    script = PUSHER_JS.read_text()

    def login_as(username: str):
        context = browser.new_context(base_url=live_site.url)
        context.add_init_script(node_script(pusher_server.ws_port(len(contexts))))
        contexts.append(context)
        context.route(
            # The default URL, answered with the same file from npm: its integrity
            # hash is checked by Chromium as it would be for jsDelivr's copy.
            DEFAULTS["PUSHERABLE_PUSHER_JS_URL"],
            lambda route: route.fulfill(body=script, content_type="application/javascript"),
        )
        page = context.new_page()
        page.set_default_timeout(LIVE_TIMEOUT_MS)
        page.goto("/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#content")
        return page

    yield login_as
    for context in contexts:
        context.close()
