"""Fixtures shared by the whole test suite."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.core.cache import cache

from pusherable.backends.pusher import Backend
from pusherable.signals import delivery_failed
from pusherable.testing import outbox
from tests.fake_pusher import FakePusher
from tests.targets import ALL_TARGETS, selected_targets
from tests.testapp.models import Article, Tag


def pytest_addoption(parser):
    parser.addoption(
        "--pusher-target",
        default=None,
        help="Pusher-compatible servers the end-to-end tests run against: "
        f"{', '.join(ALL_TARGETS)} or all (default; also PUSHERABLE_TEST_TARGETS).",
    )


def pytest_configure(config):
    config.pusher_targets = selected_targets(config.getoption("--pusher-target"))


@pytest.fixture(autouse=True)
def _empty_pusherable_outbox():
    """Every test starts and ends with an empty outbox, like Django's mail.outbox."""
    outbox.clear()
    yield
    outbox.clear()


@pytest.fixture
def empty_cache():
    """Django's cache, empty before and after the test.

    Presence, version tokens and the change history live there; modules that
    use them ask for it with ``pytest.mark.usefixtures("empty_cache")``.
    """
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run what the request queued for after the commit, as production would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def alice(db, django_user_model):
    """A plain user, the author of :func:`article`."""
    return django_user_model.objects.create_user("alice", password="pw")


@pytest.fixture
def article(db, alice):
    """An article by ``alice`` with a value in most field types and one tag."""
    article = Article.objects.create(
        title="Hello",
        body="Body",
        author=alice,
        price=Decimal("3.20"),
        reference=uuid.UUID(int=7),
        published_on=datetime.date(2024, 5, 1),
        metadata={"lang": "en"},
    )
    article.tags.set([Tag.objects.create(name="news")])
    return article


@pytest.fixture
def api():
    """The fake Pusher HTTP API of :mod:`tests.fake_pusher`, on 127.0.0.1."""
    with FakePusher() as server:
        yield server


@pytest.fixture
def make_backend(api):
    """``make_backend(**options)``: a pusher backend aimed at ``api``, closed after the test."""
    backends = []

    def make(**options):
        options.setdefault("client_options", api.client_options())
        options.setdefault("retry_backoff", (0.01, 0.05))
        backend = Backend(**options)
        backends.append(backend)
        return backend

    yield make
    # A test may leave the API hanging; close() would then wait out its timeout.
    api.hang = False
    for backend in backends:
        backend.close(timeout=1)


@pytest.fixture
def failures():
    """``[(events, error), ...]`` sent through :data:`pusherable.signals.delivery_failed`."""
    received = []

    def receiver(sender, events, error, **kwargs):
        received.append((list(events), error))

    delivery_failed.connect(receiver)
    yield received
    delivery_failed.disconnect(receiver)


#: The variables through which the environment names a proxy (as ``requests`` and
#: urllib read them).
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture
def no_proxy_in_the_environment(monkeypatch):
    """No proxy from the environment: the fake API on 127.0.0.1 is reached directly."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
