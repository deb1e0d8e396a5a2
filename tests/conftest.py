"""Fixtures shared by the whole test suite."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.core.cache import cache

from pusherable.testing import outbox
from tests.testapp.models import Article, Tag


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
