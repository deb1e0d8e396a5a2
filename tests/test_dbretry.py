"""A busy database (a lock timeout, a deadlock): saves are retried, then refused, never a 500."""

import sqlite3
from html import unescape

import pytest
from django import forms
from django.db import IntegrityError, OperationalError, transaction
from django.urls import reverse

from pusherable.dbretry import (
    DATABASE_BUSY_MESSAGE,
    DatabaseBusy,
    busy_delay,
    is_database_busy,
    refusing_form,
    run_retrying,
)
from pusherable.testing import outbox
from tests.article_forms import form_data
from tests.guard_urls import ArticleAdmin, ArticleEdit
from tests.testapp.models import Article

pytestmark = [pytest.mark.urls("tests.guard_urls"), pytest.mark.usefixtures("empty_cache")]

BUSY = str(DATABASE_BUSY_MESSAGE)


class FakePostgresError(Exception):
    """What psycopg2 (``pgcode``) or psycopg 3 (``sqlstate``) raises, without either."""

    def __init__(self, message, code, attribute="pgcode"):
        super().__init__(message)
        setattr(self, attribute, code)


def wrapped(error, django_class=OperationalError):
    """``error`` as Django re-raises a driver's error: its own class, the driver's as cause."""
    try:
        raise django_class(*error.args) from error
    except django_class as exc:
        return exc


def real_sqlite_lock(tmp_path):
    """The error SQLite raises when another connection holds the write lock."""
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as caught:
            waiter.execute("BEGIN IMMEDIATE")
        return caught.value
    finally:
        holder.close()
        waiter.close()


# -- what counts as busy --------------------------------------------------------------


def test_sqlite_lock_is_busy(tmp_path):
    error = real_sqlite_lock(tmp_path)
    assert is_database_busy(error)
    assert is_database_busy(wrapped(error))
    assert is_database_busy(OperationalError("database is locked"))
    assert is_database_busy(OperationalError("database table is locked: newsroom_article"))


@pytest.mark.parametrize("code", ["55P03", "40001", "40P01"])
@pytest.mark.parametrize("attribute", ["pgcode", "sqlstate"])
def test_postgres_lock_timeout_serialization_and_deadlock_are_busy(code, attribute):
    error = FakePostgresError("canceling statement due to lock timeout", code, attribute)
    assert is_database_busy(wrapped(error))
    assert is_database_busy(error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(FakePostgresError("duplicate key", "23505"), IntegrityError),
        OperationalError("no such table: testapp_article"),
        wrapped(sqlite3.OperationalError("disk I/O error")),
        ValueError("database is locked"),  # not from a database
    ],
)
def test_other_errors_are_not_busy(error):
    assert not is_database_busy(error)


def test_a_busy_error_in_the_context_of_another_is_not_busy():
    # A bug while handling a lock error is the bug, not the lock.
    try:
        try:
            raise OperationalError("database is locked")
        except OperationalError:
            raise KeyError("title") from None
    except KeyError as exc:
        error = exc
    assert not is_database_busy(error)


def test_busy_delay_doubles_with_jitter_up_to_its_ceiling():
    for attempt, ceiling in [(1, 0.05), (2, 0.1), (3, 0.2), (5, 0.5), (100, 0.5)]:
        delays = [busy_delay(attempt, (0.05, 0.5)) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1


# -- run_retrying --------------------------------------------------------------------


def attempts_failing(times, error=None):
    calls = []

    def attempt():
        calls.append(len(calls) + 1)
        if len(calls) <= times:
            raise error or OperationalError("database is locked")
        return "done"

    return attempt, calls


def test_busy_attempts_are_retried_after_a_wait(transactional_db):
    attempt, calls = attempts_failing(2)
    waits = []
    result = run_retrying(attempt, retries=3, delay=lambda n: n / 100, sleep=waits.append)
    assert result == "done"
    assert calls == [1, 2, 3]
    assert waits == [0.01, 0.02]


def test_still_busy_after_the_last_retry_raises_database_busy(transactional_db):
    attempt, calls = attempts_failing(10)
    with pytest.raises(DatabaseBusy) as caught:
        run_retrying(attempt, retries=2, sleep=lambda seconds: None)
    assert calls == [1, 2, 3]
    assert caught.value.attempts == 3
    assert is_database_busy(caught.value.error)


def test_other_errors_are_not_retried(transactional_db):
    attempt, calls = attempts_failing(1, ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        run_retrying(attempt, retries=3, sleep=lambda seconds: None)
    assert calls == [1]


def test_no_retry_inside_a_transaction(transactional_db):
    # The request's own transaction (ATOMIC_REQUESTS): the retry would run in it.
    attempt, calls = attempts_failing(1)
    with transaction.atomic(), pytest.raises(DatabaseBusy):
        run_retrying(attempt, retries=3, sleep=lambda seconds: None)
    assert calls == [1]


def test_a_transaction_the_error_broke_is_not_answered(transactional_db):
    def attempt():
        with transaction.atomic(savepoint=False):
            raise OperationalError("database is locked")

    with transaction.atomic(), pytest.raises(OperationalError):
        run_retrying(attempt, retries=3, sleep=lambda seconds: None)


def test_refusing_form_keeps_the_data_and_fails_with_the_message():
    class NameForm(forms.Form):
        name = forms.CharField()

    form = refusing_form(NameForm, "busy")(data={"name": "Bob"})
    assert not form.is_valid()
    assert form.non_field_errors() == ["busy"]
    assert form.cleaned_data == {"name": "Bob"}
    assert type(form).__name__ == "NameForm"
    assert 'value="Bob"' in str(form)


# -- the update view and the admin ----------------------------------------------------


@pytest.fixture
def locked(monkeypatch):
    """``locked(times)``: the next ``times`` saves of an Article fail with "database is
    locked", as SQLite's do while another save holds the write lock. Returns the list
    of save attempts."""
    attempts = []
    original = Article.save

    def lock(times):
        def save(self, *args, **kwargs):
            attempts.append(self.title)
            if len(attempts) <= times:
                raise OperationalError("database is locked")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Article, "save", save)
        return attempts

    # Short waits: the retries are what is tested, not their timing.
    monkeypatch.setattr(ArticleEdit, "pusher_busy_backoff", (0.001, 0.002))
    monkeypatch.setattr(ArticleAdmin, "pusher_busy_backoff", (0.001, 0.002))
    return lock


def edit(client, user, article, **changes):
    client.force_login(user)
    url = reverse("guard-article-edit", args=[article.pk])
    version = client.get(url).context["form"]["pusherable_version"].value()
    return client.post(url, form_data(article, version, **changes))


@pytest.mark.django_db(transaction=True)
def test_view_retries_a_locked_save_and_saves(client, alice, article, locked):
    attempts = locked(2)
    response = edit(client, alice, article, title="Typed by Alice")
    assert response.status_code == 302
    assert attempts == ["Typed by Alice"] * 3
    assert Article.objects.get(pk=article.pk).title == "Typed by Alice"
    # The form's render, then one "updated": the tries that rolled back announced nothing.
    assert [event.name for event in outbox] == ["update", "updated"]


@pytest.mark.django_db(transaction=True)
def test_view_answers_a_save_that_stays_locked_with_the_form(client, alice, article, locked):
    attempts = locked(100)
    response = edit(client, alice, article, title="Typed by Alice", body="New body")
    assert response.status_code == 200
    assert len(attempts) == 1 + ArticleEdit.pusher_busy_retries
    form = response.context["form"]
    assert form.non_field_errors() == [BUSY]
    # What the user typed is still in the form; nothing was saved or announced.
    assert form["title"].value() == "Typed by Alice"
    assert form["body"].value() == "New body"
    page = unescape(response.content.decode())
    assert BUSY in page and 'value="Typed by Alice"' in page
    stored = Article.objects.get(pk=article.pk)
    assert (stored.title, stored.body) == ("Hello", "Body")
    assert [event.name for event in outbox] == ["update", "update"]  # the two renders


@pytest.mark.django_db(transaction=True)
def test_saving_the_refused_form_again_goes_through(client, alice, article, locked):
    locked(100)
    refused = edit(client, alice, article, title="Typed by Alice")
    locked(0)
    form = refused.context["form"]
    data = {**form_data(article, title="Typed by Alice")}
    data["pusherable_version"] = form["pusherable_version"].value()
    response = client.post(reverse("guard-article-edit", args=[article.pk]), data)
    assert response.status_code == 302
    assert Article.objects.get(pk=article.pk).title == "Typed by Alice"


@pytest.mark.django_db(transaction=True)
def test_view_does_not_retry_other_database_errors(client, alice, article, monkeypatch):
    def save(self, *args, **kwargs):
        raise OperationalError("no such column: testapp_article.title")

    monkeypatch.setattr(Article, "save", save)
    with pytest.raises(OperationalError, match="no such column"):
        edit(client, alice, article, title="Typed by Alice")


def test_view_inside_a_transaction_answers_without_retrying(client, alice, article, locked):
    # A plain ``db`` test runs in a transaction, as a project with ATOMIC_REQUESTS does.
    attempts = locked(1)
    response = edit(client, alice, article, title="Typed by Alice")
    assert response.status_code == 200
    assert attempts == ["Typed by Alice"]
    assert response.context["form"].non_field_errors() == [BUSY]


def admin_save(client, user, article, **changes):
    client.force_login(user)
    url = reverse("pusherable_admin:testapp_article_change", args=[article.pk])
    version = client.get(url).context["adminform"].form["pusherable_version"].value()
    data = {
        "title": article.title,
        "body": article.body,
        "tags": [tag.pk for tag in article.tags.all()],
        "pusherable_version": version,
        "_save": "Save",
        **changes,
    }
    return client.post(url, data)


@pytest.mark.django_db(transaction=True)
def test_admin_retries_a_locked_save_and_saves(client, admin_user, article, locked):
    attempts = locked(1)
    response = admin_save(client, admin_user, article, title="Typed by Alice")
    assert response.status_code == 302
    assert len(attempts) == 2
    assert Article.objects.get(pk=article.pk).title == "Typed by Alice"


@pytest.mark.django_db(transaction=True)
def test_admin_answers_a_save_that_stays_locked_with_the_form(client, admin_user, article, locked):
    attempts = locked(100)
    response = admin_save(client, admin_user, article, title="Typed by Alice")
    assert response.status_code == 200
    assert len(attempts) == 1 + ArticleAdmin.pusher_busy_retries
    form = response.context["adminform"].form
    assert form.non_field_errors() == [BUSY]
    assert form["title"].value() == "Typed by Alice"
    assert 'value="Typed by Alice"' in unescape(response.content.decode())
    assert Article.objects.get(pk=article.pk).title == "Hello"
    assert not any(event.name == "updated" for event in outbox)


def test_a_view_without_post_still_answers_405(rf):
    from django.views.generic import TemplateView

    from pusherable.mixins import PusherUpdateMixin

    class Page(PusherUpdateMixin, TemplateView):
        template_name = "guard_tests/form.html"

    assert Page.as_view()(rf.post("/")).status_code == 405
