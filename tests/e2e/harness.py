"""What the end-to-end tests drive: Django on a loopback port, Chromium, and webhook signals.

Threads, and why Playwright gets one of its own
    Playwright's sync API runs an asyncio event loop in the thread that starts it.
    Django refuses ORM calls from a thread with a running event loop
    (``SynchronousOnlyOperation``), and these tests need the ORM between browser
    steps (creating users, reading an article back, :func:`pusherable.presence.who_is_here`).
    Rather than switch that guard off with ``DJANGO_ALLOW_ASYNC_UNSAFE``, which would
    also hide a real misuse in the library, :class:`BrowserThread` confines every
    Playwright call to one worker thread; the test's own thread stays free for the
    ORM. Django itself answers from :class:`DjangoServer`'s thread (and one thread
    per request), sharing the test database's connection.

Bounded waits
    Every wait has a deadline: Playwright's own timeouts inside the worker, and a
    longer one on each hand-off to it, so a stuck browser fails the test instead of
    hanging it.

Barriers
    Proving that a tab did *not* receive an event needs a point after which it
    would have. The server delivers to one connection in the order it accepted the
    triggers, so once a tab has received a "barrier" event triggered after the
    event in question, it would have received that event too.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.db import connections
from django.test.testcases import LiveServerThread

from pusherable import signals
from tests.chromium import launch_chromium

__all__ = [
    "BrowserThread",
    "BrowserUser",
    "DjangoServer",
    "SignalRecorder",
    "Tab",
    "run_django",
    "wait_until",
]

T = TypeVar("T")

#: Playwright's own timeout for one step (navigation, wait), in milliseconds.
STEP_TIMEOUT_MS = 15_000
#: How long the test thread waits for the browser thread to finish one step.
HAND_OFF_TIMEOUT = 60.0


def wait_until(predicate: Callable[[], T], *, timeout: float = 10.0, message: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:g} s: {message}")
        time.sleep(0.05)


# -- Django -----------------------------------------------------------------------------


@dataclass
class DjangoServer:
    """Django served by a thread on ``127.0.0.1`` (static files included)."""

    thread: LiveServerThread

    @property
    def url(self) -> str:
        return f"http://{self.thread.host}:{self.thread.port}"


@contextmanager
def run_django() -> Iterator[DjangoServer]:
    """Serve Django on a free loopback port until the block exits.

    The test database is SQLite in memory, which exists once per connection: the
    server's threads share the test's connection, as Django's LiveServerTestCase does.
    """
    shared = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }
    for conn in shared.values():
        conn.inc_thread_sharing()
    thread = LiveServerThread("127.0.0.1", StaticFilesHandler, connections_override=shared)
    thread.daemon = True
    thread.start()
    try:
        if not thread.is_ready.wait(HAND_OFF_TIMEOUT):
            raise RuntimeError("The Django test server did not start.")
        if thread.error:
            raise thread.error
        yield DjangoServer(thread)
    finally:
        thread.terminate()
        for conn in shared.values():
            conn.dec_thread_sharing()


# -- Webhook signals --------------------------------------------------------------------


@dataclass
class Received:
    """One webhook signal as a receiver saw it."""

    name: str
    sender: Any
    kwargs: dict[str, Any]


@dataclass
class SignalRecorder:
    """Records the webhook signals (sent from the server's request threads)."""

    names: tuple[str, ...] = (
        "channel_occupied",
        "channel_vacated",
        "member_added",
        "member_removed",
    )
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _receivers: list[tuple[Any, Callable[..., None]]] = field(default_factory=list)

    def connect(self) -> None:
        for name in self.names:
            signal = getattr(signals, name)

            def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
                kwargs.pop("signal", None)
                with self._lock:
                    self.received.append(Received(_name, sender, kwargs))

            signal.connect(receiver, weak=False)
            self._receivers.append((signal, receiver))

    def disconnect(self) -> None:
        for signal, receiver in self._receivers:
            signal.disconnect(receiver)
        self._receivers.clear()

    def on(self, channel: str) -> list[tuple[str, str | None]]:
        """``(signal name, user_id)`` of every signal about ``channel``, in order."""
        with self._lock:
            return [
                (item.name, item.kwargs.get("user_id"))
                for item in self.received
                if item.kwargs.get("channel") == channel
            ]

    def wait_for(self, channel: str, count: int, timeout: float = 15.0) -> list[Received]:
        """Wait until ``count`` signals about ``channel`` arrived; return them."""

        def enough() -> list[Received] | None:
            with self._lock:
                about = [i for i in self.received if i.kwargs.get("channel") == channel]
            return about if len(about) >= count else None

        return wait_until(
            enough,
            timeout=timeout,
            message=f"{count} webhook signals on {channel}; got {self.on(channel)}",
        )


# -- Chromium through Playwright --------------------------------------------------------


class BrowserThread:
    """Chromium, driven through Playwright's sync API from one dedicated thread."""

    def __init__(self, executable_path: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._playwright: Any = None
        self.browser: Any = None
        try:
            self._playwright = self.call(self._start_playwright)
            self.browser = self.call(
                lambda: launch_chromium(
                    self._playwright, executable_path, timeout=STEP_TIMEOUT_MS * 2
                )
            )
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _start_playwright() -> Any:
        from playwright.sync_api import sync_playwright

        return sync_playwright().start()

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in the browser thread and return its result."""
        return self._executor.submit(function, *args).result(HAND_OFF_TIMEOUT)

    def new_user(
        self, base_url: str, cookies: list[dict[str, Any]], *, init_script: str | None = None
    ) -> BrowserUser:
        """A fresh browser context (its own cookie jar) holding ``cookies``.

        ``init_script`` runs in each of its pages before the page's own scripts.
        """

        def create() -> Any:
            context = self.browser.new_context(base_url=base_url)
            context.set_default_timeout(STEP_TIMEOUT_MS)
            context.add_cookies(cookies)
            if init_script:
                context.add_init_script(init_script)
            return context

        return BrowserUser(self, self.call(create))

    def close(self) -> None:
        try:
            if self.browser is not None:
                self.call(self.browser.close)
            if self._playwright is not None:
                self.call(self._playwright.stop)
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)


class BrowserUser:
    """One user's browser context: its tabs share the session cookie."""

    def __init__(self, thread: BrowserThread, context: Any) -> None:
        self.thread = thread
        self.context = context
        self.tabs: list[Tab] = []

    def open(self, path: str) -> Tab:
        """Open ``path`` in a new tab; return once the page joined its barrier channel."""
        page = self.thread.call(self.context.new_page)
        tab = Tab(self.thread, page)
        self.tabs.append(tab)
        tab.goto(path)
        return tab

    def close(self) -> None:
        self.thread.call(self.context.close)


# Finds the events named `name` whose data match `where` ({"dotted.path": value}).
_MATCHING_EVENTS_JS = """
([name, where]) => (window.e2eEvents || []).filter((e) => {
  if (e.event !== name) return false;
  return Object.keys(where).every((path) => {
    const value = path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), e.data);
    return JSON.stringify(value) === JSON.stringify(where[path]);
  });
})
"""


def _paths(where: dict[str, Any]) -> dict[str, Any]:
    return {key.replace("__", "."): value for key, value in where.items()}


class Tab:
    """A page of the test site; reads what its ``pusherable_notify`` received."""

    #: The public channel the test pages listen on for barriers.
    BARRIER_CHANNEL = "article"

    def __init__(self, thread: BrowserThread, page: Any) -> None:
        self.thread = thread
        self.page = page

    def goto(self, path: str) -> None:
        self.thread.call(self.page.goto, path)
        self.wait_for("pusherable:subscribed", channel=self.BARRIER_CHANNEL)

    def reload(self) -> None:
        self.thread.call(self.page.reload)
        self.wait_for("pusherable:subscribed", channel=self.BARRIER_CHANNEL)

    def close(self) -> None:
        self.thread.call(self.page.close)

    def js(self, expression: str, arg: Any = None) -> Any:
        """Evaluate ``expression`` (a function of ``arg``) in the page; await a promise."""
        return self.thread.call(self.page.evaluate, expression, arg)

    def events(self, name: str | None = None, **where: Any) -> list[dict[str, Any]]:
        """The notifications received so far, ``{event, data, channel}`` each.

        With ``name``: the ``data`` of those named ``name`` whose data match ``where``,
        whose keys are dotted paths with ``__`` for dots: ``member__id="3"`` matches
        ``data.member.id === "3"``.
        """
        if name is None:
            return self.js("() => window.e2eEvents")
        paths = _paths(where)
        return [event["data"] for event in self.js(_MATCHING_EVENTS_JS, [name, paths])]

    def wait_for(
        self, name: str, *, count: int = 1, timeout: float = 15.0, **where: Any
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` events ``name`` matching ``where`` arrived (see :meth:`events`)."""
        paths = _paths(where)
        condition = f"(arg) => ({_MATCHING_EVENTS_JS})(arg).length >= {int(count)}"

        def wait() -> None:
            self.page.wait_for_function(condition, arg=[name, paths], timeout=timeout * 1000)

        try:
            self.thread.call(wait)
        except Exception as exc:
            received = json.dumps(self.events(), indent=1)[-4000:]
            raise AssertionError(
                f"{self.page.url}: no {count} x {name} {where} within {timeout:g} s "
                f"({type(exc).__name__}). Received:\n{received}"
            ) from None
        return self.events(name, **where)

    def socket_id(self) -> str:
        return self.js("() => pusherable.socketId()")

    def save_title(self, title: str) -> None:
        """Submit the page's edit form (into its iframe) and wait for the answer."""

        def submit() -> None:
            self.page.fill("input[name=title]", title)
            self.page.click("button[type=submit]")
            self.page.frame_locator("iframe[name=saved]").locator("#saved").wait_for()

        self.thread.call(submit)
