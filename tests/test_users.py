"""Who the payload names: request.user, without reading the session when it cannot help."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from pusherable.testing import outbox
from pusherable.users import request_user


@pytest.fixture(autouse=True)
def empty_outbox():
    outbox.clear()
    yield
    outbox.clear()


@pytest.fixture
def alice(db, django_user_model):
    return django_user_model.objects.create_user("alice", password="pw")


def through_middleware(request):
    """``request`` as a view sees it behind Django's session and auth middleware."""
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    AuthenticationMiddleware(lambda r: HttpResponse()).process_request(request)
    return request


def test_anonymous_without_session_is_known_without_reading_it(db, django_assert_num_queries):
    request = through_middleware(RequestFactory().get("/"))
    with django_assert_num_queries(0):
        user = request_user(request)
    assert isinstance(user, AnonymousUser)
    assert request.session.accessed is False  # so the page does not get "Vary: Cookie"
    assert not hasattr(request, "_cached_user")


def test_a_session_cookie_is_read_and_its_user_found(alice):
    session = SessionStore()
    session[SESSION_KEY] = str(alice.pk)
    session.save()
    request = RequestFactory().get("/")
    request.COOKIES["sessionid"] = session.session_key
    request = through_middleware(request)
    # The session's hash is not set, so Django's check refuses the user: whatever
    # request.user says is what the payload names.
    assert request_user(request) is request.user


def test_logged_in_user_through_the_client(client, alice, django_capture_on_commit_callbacks):
    from tests.testapp.models import Article

    article = Article.objects.create(title="t", author=alice)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(reverse("article-detail", args=[article.pk]))
    [event] = outbox
    assert (event.data["user"], event.data["user_id"]) == ("alice", str(alice.pk))


def test_anonymous_page_does_not_vary_on_the_cookie(
    client, alice, django_capture_on_commit_callbacks
):
    from tests.testapp.models import Article

    article = Article.objects.create(title="t", author=alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("article-detail", args=[article.pk]))
    assert "Cookie" not in response.get("Vary", "")
    [event] = outbox
    assert (event.data["user"], event.data["user_id"]) == (None, None)


def test_a_user_already_read_is_returned_as_is(alice):
    request = through_middleware(RequestFactory().get("/"))
    request.user = alice  # as login() does
    assert request_user(request) is alice


def test_a_login_stored_in_this_requests_session_is_not_skipped(alice):
    request = through_middleware(RequestFactory().get("/"))
    request.session[SESSION_KEY] = str(alice.pk)  # new session, no cookie yet
    # Not the shortcut: whatever the middleware's lazy user resolves to.
    assert request_user(request) is request.user


def test_another_middlewares_lazy_user_is_evaluated(alice):
    request = through_middleware(RequestFactory().get("/"))
    request.user = SimpleLazyObject(lambda: alice)  # e.g. a token middleware
    assert request_user(request) == alice


def test_no_user_at_all():
    assert request_user(RequestFactory().get("/")) is None
