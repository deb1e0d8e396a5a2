"""Fixtures of the end-to-end tests: a Pusher-compatible server, Django on loopback, Chromium.

Every test that takes ``site`` runs once per selected target (:mod:`tests.targets`):
the bundled server, one soketi, and a two-node soketi cluster over Redis.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from pusherable.channels import channel_for
from tests.chromium import require_chromium
from tests.e2e.harness import (
    BrowserThread,
    BrowserUser,
    DjangoServer,
    SignalRecorder,
    Tab,
    run_django,
)
from tests.targets import PusherTarget, node_script, require_target, start_target
from tests.testapp.models import Article
from tests.tools import require_npm_package

#: A short grace period, so that "left" arrives quickly; tests that need it longer say so.
GRACE_PERIOD = 0.3


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # One run of each test per selected target, named [bundled], [soketi], [cluster].
    if "pusher_target" in metafunc.fixturenames:
        targets = metafunc.config.pusher_targets  # type: ignore[attr-defined]
        metafunc.parametrize("pusher_target", targets, indirect=True)


@pytest.fixture
def pusher_target(request: pytest.FixtureRequest) -> str:
    """The name of the target this test runs against (skipped if it cannot run here)."""
    name = str(request.param)
    require_target(name)
    return name


@pytest.fixture(scope="module")
def browser_thread() -> Iterator[BrowserThread]:
    chromium = require_chromium()
    require_npm_package("pusher-js")
    thread = BrowserThread(str(chromium))
    yield thread
    thread.close()


@dataclass
class Site:
    """One end-to-end setup: a Pusher target, Django, users, an article, signals."""

    pusher: PusherTarget
    django: DjangoServer
    browser: BrowserThread
    article: Article
    users: dict[str, User]
    signals: SignalRecorder
    contexts: list[BrowserUser] = field(default_factory=list)
    _barriers: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def channel(self) -> str:
        """The article's presence channel."""
        return channel_for(self.article, "presence")

    def path(self, name: str = "e2e-article") -> str:
        return reverse(name, args=[self.article.pk])

    def session(self, username: str) -> dict[str, str]:
        """``{"cookie", "csrf"}``: what a client of ``username`` sends to Django's endpoints."""
        from django.conf import settings
        from django.middleware.csrf import _get_new_csrf_string

        client = Client()
        client.force_login(self.users[username])
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        csrf = _get_new_csrf_string()
        cookie = f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}"
        return {"cookie": cookie, "csrf": csrf}

    def login(self, username: str) -> BrowserUser:
        """A browser context logged in as ``username``, on the target's next node.

        On a cluster the first user's pages connect to the node Django sends to,
        the second user's to the other node, and so on.
        """
        client = Client()
        client.force_login(self.users[username])
        from django.conf import settings

        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        user = self.browser.new_user(
            self.django.url,
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": self.django.url}],
            init_script=node_script(self.pusher.ws_port(len(self.contexts))),
        )
        self.contexts.append(user)
        return user

    def member_id(self, username: str) -> str:
        return str(self.users[username].pk)

    def barrier(self, *tabs: Tab) -> None:
        """Return once every tab has received everything the server accepted before now."""
        number = next(self._barriers)
        self.pusher.pusher_client().trigger(Tab.BARRIER_CHANNEL, "barrier", {"n": number})
        for tab in tabs:
            tab.wait_for("barrier", n=number)

    def trigger(self, event: str, data: dict[str, Any]) -> None:
        """Trigger ``event`` on the article's presence channel from the server side."""
        self.pusher.pusher_client().trigger(self.channel, event, data)

    def close_browsers(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()
        self.contexts.clear()


def make_users() -> dict[str, User]:
    perms = list(
        Permission.objects.filter(
            content_type__app_label="testapp", codename__in=["view_article", "change_article"]
        )
    )
    users = {}
    for username, first_name, permitted in [
        ("alice", "Alice", True),
        ("bob", "Bob", True),
        ("carol", "Carol", True),
        ("eve", "Eve", False),
    ]:
        user = User.objects.create_user(username, first_name=first_name, password="unused")
        if permitted:
            user.user_permissions.set(perms)
        users[username] = user
    return users


@contextlib.contextmanager
def running_site(
    settings: Any, pusher_target: str, browser: BrowserThread | None, **target_options: Any
) -> Iterator[Site]:
    """Everything running; torn down browsers first, then the server, then Django."""
    caches["default"].clear()  # who-is-here records of earlier tests' articles
    recorder = SignalRecorder()
    recorder.connect()
    with contextlib.ExitStack() as stack:
        stack.callback(recorder.disconnect)
        django = stack.enter_context(run_django())
        settings.ROOT_URLCONF = "tests.e2e.urls"
        webhook_url = django.url + reverse("pusherable:webhook")
        pusher = stack.enter_context(
            start_target(pusher_target, webhook_urls=[webhook_url], **target_options)
        )
        for name, value in pusher.settings().items():
            setattr(settings, name, value)
        settings.PUSHERABLE_PUSHER_JS_URL = reverse("e2e-pusher-js")
        settings.PUSHERABLE_PRESENCE_GRACE_PERIOD = GRACE_PERIOD
        # The real backend, in the request's thread: an event triggered by a request
        # has reached the server when the response is back, which barriers rely on.
        settings.PUSHERABLE_BACKEND = "pusherable.backends.pusher.Backend"
        settings.PUSHERABLE_DELIVERY = "sync"
        site = Site(
            pusher=pusher,
            django=django,
            browser=browser,  # type: ignore[arg-type]
            article=Article.objects.create(title="Draft"),
            users=make_users(),
            signals=recorder,
        )
        stack.callback(site.close_browsers)
        yield site
    caches["default"].clear()


@pytest.fixture
def site(
    transactional_db: None, settings: Any, browser_thread: BrowserThread, pusher_target: str
) -> Iterator[Site]:
    """A Pusher target, Django and Chromium, with users and an article."""
    with running_site(settings, pusher_target, browser_thread) as site:
        yield site


@pytest.fixture
def site_without_browser(
    transactional_db: None, settings: Any, pusher_target: str
) -> Iterator[Site]:
    """The same without Chromium, for clients driven from Node."""
    with running_site(settings, pusher_target, None) as site:
        yield site
