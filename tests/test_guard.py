"""The collision guard: version tokens, the change history, and stale saves refused.

Every request here is a plain form POST, as a browser without JavaScript sends it.
"""

import re
from html import unescape

import pytest
from django import forms
from django.core.cache import cache
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps
from django.urls import reverse

from pusherable import trigger_for
from pusherable.exceptions import ConfigurationError
from pusherable.guard import (
    Conflict,
    changed_form_fields,
    conflict_message,
    describe_value,
    find_conflict,
)
from pusherable.history import (
    Change,
    changes_since,
    object_history,
    record_change,
    record_change_on_commit,
)
from pusherable.testing import outbox
from pusherable.versions import object_version, version_digest, version_field_of
from tests.article_forms import form_data
from tests.testapp.models import Account, Article, Document, Tag, Ticket

pytestmark = [pytest.mark.urls("tests.guard_urls"), pytest.mark.usefixtures("empty_cache")]

VERSION_INPUT_RE = re.compile(r'<input type="hidden" name="pusherable_version" value="([^"]*)"')


@pytest.fixture
def bob(db, django_user_model):
    return django_user_model.objects.create_user("bob", password="pw")


def rendered_version(response):
    match = VERSION_INPUT_RE.search(response.content.decode())
    assert match, "the form has no version input"
    return unescape(match.group(1))


def open_form(client, user, url):
    """What a browser does: GET the form, and keep the version it was rendered from."""
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return rendered_version(response)


def page_errors(response):
    return unescape(response.content.decode())


# -- version tokens -------------------------------------------------------------------


def test_auto_now_field_is_the_version(article):
    assert version_field_of(Article).name == "updated_at"
    version = object_version(article)
    assert version == "t:" + article.updated_at.isoformat()
    article.title = "Changed"
    article.save()
    assert object_version(article) != version


def test_models_without_auto_now_get_a_keyed_digest(db):
    assert version_field_of(Tag) is None
    tag = Tag.objects.create(name="news")
    version = object_version(tag)
    assert version.startswith("d:") and len(version) == 34
    assert object_version(Tag.objects.get(pk=tag.pk)) == version  # stable
    tag.name = "tech"
    assert object_version(tag) != version
    assert "news" not in version and "tech" not in object_version(tag)


def test_digest_covers_sensitive_fields_without_revealing_them(db):
    account = Account.objects.create(name="a", password="hash-1")
    before = object_version(account)
    account.password = "hash-2"
    assert object_version(account) != before


def test_digest_ignores_the_order_of_many_to_many_keys(article):
    article.updated_at = None  # not part of the test: use the digest
    first, second = Tag.objects.create(name="a"), Tag.objects.create(name="b")
    article.tags.set([first, second])
    digest = version_digest(Article.objects.prefetch_related("tags").get(pk=article.pk))
    reloaded = Article.objects.get(pk=article.pk)
    assert version_digest(reloaded) == digest
    reloaded.tags.remove(first)
    assert version_digest(Article.objects.get(pk=article.pk)) != digest


def test_digest_of_other_key_types(db):
    document = Document.objects.create(key="a b/c", content="x")
    ticket = Ticket.objects.create(subject="s")
    assert object_version(document) != object_version(Document(key="a b/c", content="y"))
    assert object_version(ticket).startswith("d:")


def test_a_named_version_field(article):
    assert object_version(article, "rating") == "t:0.0"
    with pytest.raises(ConfigurationError, match="not a field"):
        object_version(article, "nope")
    with pytest.raises(ConfigurationError, match="single-valued"):
        object_version(article, "tags")


# -- the form carries its version --------------------------------------------------------


def test_the_form_renders_the_version_without_javascript(client, article, alice):
    version = open_form(client, alice, reverse("guard-article-edit", args=[article.pk]))
    assert version == object_version(article)
    html = client.get(reverse("guard-article-edit", args=[article.pk])).content.decode()
    assert 'data-pusherable-model="testapp.article"' in html
    assert f'data-pusherable-pk="{article.pk}"' in html
    assert "data-pusherable-guard" in html
    assert "&quot;title&quot;:&quot;Title&quot;" in html  # labels for the live notice


def test_version_tag_for_templates_that_render_fields_by_hand(client, article, alice):
    url = reverse("guard-article-hand", args=[article.pk])
    assert open_form(client, alice, url) == object_version(article)


def test_version_tag_renders_nothing_for_unguarded_forms(client, article, alice):
    client.force_login(alice)
    html = client.get(reverse("guard-article-unguarded", args=[article.pk])).content.decode()
    assert "pusherable_version" not in html


# -- saves -----------------------------------------------------------------------------


def test_save_with_the_current_version_goes_through(client, article, alice, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    version = open_form(client, alice, url)
    with commit():
        response = client.post(url, form_data(article, version, title="Hello world"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.title == "Hello world"
    [event] = outbox
    assert event.name == "updated"
    assert event.data["changed"] == {"title": "Hello world"}
    assert event.data["previous"] == {"title": "Hello"}
    assert event.data["previous_version"] == version
    assert event.data["version"] == object_version(article) != version
    [change] = object_history(Article, article.pk)
    assert change.user == "alice"
    assert change.previous_version == version
    assert change.fields == {"title": ("Hello", "Hello world")}


def test_stale_save_is_refused_naming_who_changed_what(client, article, alice, bob, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    bob_version = open_form(client, bob, url)  # Bob opens the form first...
    alice_version = open_form(client, alice, url)
    with commit():
        client.post(
            url, form_data(article, alice_version, title="Alice's title")
        )  # ...Alice saves
    outbox.clear()

    client.force_login(bob)
    with commit():
        response = client.post(url, form_data(article, bob_version, title="Bob's title"))
    assert response.status_code == 200
    text = page_errors(response)
    assert (
        "alice changed Title from “Hello” to “Alice's title”, since you opened this form." in text
    )
    assert "Your changes were not saved" in text
    article.refresh_from_db()
    assert article.title == "Alice's title"
    # Bob's input is kept, and the form now carries the current version.
    assert 'value="Bob&#x27;s title"' in response.content.decode()
    current = rendered_version(response)
    assert current == object_version(article)
    assert [event.name for event in outbox] == ["update"]  # the form rendered again, no save

    # Told about it, Bob saves again: now it goes through.
    outbox.clear()
    with commit():
        response = client.post(url, form_data(article, current, title="Bob's title"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.title == "Bob's title"
    assert outbox[0].data["previous"] == {"title": "Alice's title"}


def test_several_changes_are_all_named(client, article, alice, bob, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    stale = open_form(client, bob, url)
    version = open_form(client, alice, url)
    with commit():
        client.post(url, form_data(article, version, title="One"))
    article.refresh_from_db()
    version = open_form(client, alice, url)
    with commit():
        client.post(url, form_data(article, version, title="One", body="Two"))
    client.force_login(bob)
    response = client.post(url, form_data(article, stale, title="Mine"))
    text = page_errors(response)
    assert (
        "alice changed Title from “Hello” to “One”, then alice changed Body from “Body” to “Two”"
        in text
    )


def test_stale_save_without_history_is_still_refused(client, article, bob):
    url = reverse("guard-article-edit", args=[article.pk])
    version = open_form(client, bob, url)
    Article.objects.filter(pk=article.pk).update(title="Changed in the shell")
    article.refresh_from_db()
    article.title = "Changed in the shell"
    article.save()  # moves updated_at, as any save outside the guarded views would
    response = client.post(url, form_data(article, version, title="Bob's"))
    assert response.status_code == 200
    assert "Someone else changed this article since you opened this form." in page_errors(response)
    assert Article.objects.get(pk=article.pk).title == "Changed in the shell"


def test_save_after_the_object_was_deleted_is_refused(client, article, bob):
    url = reverse("guard-article-edit", args=[article.pk])
    version = open_form(client, bob, url)
    data = form_data(article, version, title="Bob's")
    Article.objects.filter(pk=article.pk).delete()
    # The view loads the object before the form: a deleted object is a 404 there...
    assert client.post(url, data).status_code == 404
    # ...and the guard refuses rather than re-create it when it goes between the two.
    message = conflict_message(find_conflict(article, None, version, None))
    assert message.startswith("This article was deleted since you opened this form")


def test_saves_without_changes_do_not_count_as_conflicts(client, article, alice, bob, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    stale = open_form(client, bob, url)
    version = open_form(client, alice, url)
    with commit():
        response = client.post(url, form_data(article, version))  # saved, nothing changed
    assert response.status_code == 302
    assert object_version(Article.objects.get(pk=article.pk)) != stale  # updated_at moved
    assert outbox == []
    client.force_login(bob)
    with commit():
        response = client.post(url, form_data(article, stale, title="Bob's"))
    assert response.status_code == 302
    assert Article.objects.get(pk=article.pk).title == "Bob's"


def test_a_form_without_a_version_is_not_checked(client, article, alice, commit):
    """API clients and old templates that do not send the field keep working."""
    client.force_login(alice)
    article.title = "Moved on"
    article.save()
    with commit():
        response = client.post(
            reverse("guard-article-edit", args=[article.pk]), form_data(article, title="Mine")
        )
    assert response.status_code == 302


def test_opting_out_overwrites(client, article, alice, bob, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    stale = open_form(client, bob, url)
    version = open_form(client, alice, url)
    with commit():
        client.post(url, form_data(article, version, title="Alice's"))
    client.force_login(bob)
    with commit():
        response = client.post(
            reverse("guard-article-unguarded", args=[article.pk]),
            form_data(article, stale, title="Bob's"),
        )
    assert response.status_code == 302
    assert Article.objects.get(pk=article.pk).title == "Bob's"
    # Unguarded saves still go into the history, for the guarded views to name.
    assert [change.user for change in object_history(Article, article.pk)] == ["alice", "bob"]


def test_digest_guard_on_a_model_without_auto_now(client, alice, bob, commit):
    tag = Tag.objects.create(name="news")
    url = reverse("guard-tag-edit", args=[tag.pk])
    stale = open_form(client, bob, url)
    version = open_form(client, alice, url)
    assert stale == version == object_version(tag)
    with commit():
        assert (
            client.post(url, {"name": "politics", "pusherable_version": version}).status_code
            == 302
        )
    client.force_login(bob)
    response = client.post(url, {"name": "sport", "pusherable_version": stale})
    assert response.status_code == 200
    assert "alice changed Name from “news” to “politics”" in page_errors(response)
    assert Tag.objects.get(pk=tag.pk).name == "politics"


def test_line_endings_alone_do_not_trip_the_guard(client, alice, bob, commit):
    """A browser save of untouched text (CRLF for LF) moves the digest, but changes nothing."""
    document = Document.objects.create(key="notes", content="One.\nTwo.")
    url = reverse("guard-document-edit", args=[document.pk])
    stale = open_form(client, bob, url)
    version = open_form(client, alice, url)
    with commit():
        response = client.post(url, {"content": "One.\r\nTwo.", "pusherable_version": version})
    assert response.status_code == 302
    assert outbox == []  # nothing changed, so nothing was announced
    [change] = object_history(Document, document.pk)
    assert change.fields == {}

    client.force_login(bob)
    with commit():
        response = client.post(url, {"content": "One.\r\nThree.", "pusherable_version": stale})
    assert response.status_code == 302
    assert Document.objects.get(pk=document.pk).content == "One.\r\nThree."


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea)
    count = forms.IntegerField()
    pusherable_version = forms.CharField(required=False, widget=forms.HiddenInput)


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("a\r\nb\r\nc", "1", []),  # CRLF for LF: no change
        ("a\rb\rc", "1", []),  # lone CR too
        ("a\r\nb\r\nc", "2", ["count"]),
        ("a\r\nb\r\nd", "1", ["text"]),
        ("a\r\n\r\nb\r\nc", "1", ["text"]),  # an added line is a change
    ],
)
def test_changed_form_fields_ignore_line_endings_only(text, count, expected):
    form = NoteForm(
        data={"text": text, "count": count, "pusherable_version": "t:new"},
        initial={"text": "a\nb\nc", "count": 1, "pusherable_version": "t:old"},
    )
    assert form.is_valid()
    assert changed_form_fields(form) == expected


def test_changed_form_fields_of_an_invalid_form():
    form = NoteForm(data={"text": "a\r\nb", "count": "x"}, initial={"text": "a\nb", "count": 1})
    assert not form.is_valid()
    assert changed_form_fields(form) == ["count"]


def test_sensitive_fields_are_named_but_their_values_never_shown(client, alice, bob, commit):
    account = Account.objects.create(name="shop", password="old-hash")
    url = reverse("guard-account-edit", args=[account.pk])
    stale = open_form(client, bob, url)
    version = open_form(client, alice, url)
    with commit():
        client.post(url, {"name": "shop", "password": "new-hash", "pusherable_version": version})
    [event] = [e for e in outbox if e.name == "updated"]
    assert "password" not in event.data["changed"] and "password" not in event.data["previous"]
    assert object_history(Account, account.pk)[0].fields == {"password": None}
    client.force_login(bob)
    response = client.post(url, {"name": "mine", "password": "x", "pusherable_version": stale})
    text = page_errors(response)
    assert "alice changed Password, since you opened this form." in text
    assert "old-hash" not in text and "new-hash" not in text


# -- the history -------------------------------------------------------------------------


def test_history_follows_the_chain_and_is_bounded(article):
    with override_settings(PUSHERABLE_HISTORY_LENGTH=3):
        for index in range(5):
            record_change(
                article, previous_version=f"v{index}", version=f"v{index + 1}", fields={}
            )
        assert [change.version for change in object_history(Article, article.pk)] == [
            "v3",
            "v4",
            "v5",
        ]
    assert [change.version for change in changes_since(Article, article.pk, "v3")] == ["v4", "v5"]
    assert changes_since(Article, article.pk, "v0") == []  # evicted: unknown
    assert changes_since(Article, article.pk, "v5") == []


def test_a_change_is_recorded_on_commit_and_a_failing_cache_never_fails_the_save(
    article, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        record_change_on_commit(article, previous_version="a", version="b", fields={})
        assert object_history(Article, article.pk) == []  # not before the commit
    assert len(callbacks) == 1
    assert [change.version for change in object_history(Article, article.pk)] == ["b"]

    def cache_down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr("pusherable.history.record_change", cache_down)
    with django_capture_on_commit_callbacks(execute=True):
        record_change_on_commit(article, previous_version="b", version="c", fields={})
    assert "could not record the change of" in caplog.text


def test_history_stops_at_a_cycle(article):
    record_change(article, previous_version="a", version="b", fields={"title": ("x", "y")})
    record_change(article, previous_version="b", version="a", fields={"title": ("y", "x")})
    assert [change.version for change in changes_since(Article, article.pk, "a")] == ["b"]


def test_history_ignores_unreadable_entries(article):
    from pusherable.history import history_key

    cache.set(history_key(Article, article.pk), [{"nonsense": 1}, "junk"])
    assert object_history(Article, article.pk) == []


def test_describe_value():
    assert describe_value(None) == "(empty)"
    assert describe_value(True) == "yes"
    assert describe_value([1, 2]) == "“1, 2”"
    assert describe_value([]) == "(none)"
    assert describe_value({"b": 1, "a": 2}) == '“{"a": 2, "b": 1}”'
    assert describe_value("x" * 100) == "“" + "x" * 59 + "…”"


@isolate_apps("tests.testapp")
def test_conflict_message_names_choices_by_their_labels():
    class Story(models.Model):
        status = models.CharField(
            max_length=10, choices=[("draft", "Draft"), ("review", "In review")]
        )
        rank = models.IntegerField(choices=[(1, "First"), (2, "Second")], null=True)
        note = models.CharField(max_length=10)

        class Meta:
            app_label = "testapp"

    change = Change(
        previous_version="t:1",
        version="t:2",
        user="alice",
        user_id="1",
        fields={
            "status": ("draft", "review"),
            "rank": (None, 2),
            "note": ("draft", "x"),  # no choices: the value as it is
        },
    )
    message = conflict_message(Conflict(Story, 1, "t:1", "t:2", [change]))
    assert message.startswith(
        "alice changed Status from “Draft” to “In review”; Rank from (empty) to “Second”; "
        "Note from “draft” to “x”, since you opened this form."
    )


# -- the model's channel (live list pages) ---------------------------------------------


def test_write_events_also_go_to_the_model_channel(client, article, alice, commit):
    client.force_login(alice)
    with commit():
        client.post(reverse("guard-article-create"), {"title": "Brand new"})
    [created] = outbox
    assert created.name == "created"
    assert created.channels[1] == "private-article"
    assert created.data["object"]["title"] == "Brand new"


def test_render_events_never_go_to_the_model_channel(client, article, alice, commit):
    client.force_login(alice)
    with (
        override_settings(PUSHERABLE_MODEL_CHANNEL_EVENTS=["update", "updated", "view"]),
        commit(),
    ):
        client.get(reverse("guard-article-edit", args=[article.pk]))
    [event] = outbox
    assert event.name == "update"
    assert event.channels == [f"presence-article_{article.pk}"]


def test_model_channel_can_be_turned_off(client, article, alice, commit):
    url = reverse("guard-article-quiet", args=[article.pk])
    version = open_form(client, alice, url)
    outbox.clear()
    with commit():
        client.post(url, form_data(article, version, title="Quiet"))
    [event] = outbox
    assert event.channels == [f"presence-article_{article.pk}"]
    outbox.clear()
    with override_settings(PUSHERABLE_MODEL_CHANNEL_EVENTS=()), commit():
        trigger_for(article, "updated")
    assert outbox[0].channels == [f"presence-article_{article.pk}"]


def test_trigger_for_sends_write_events_to_the_model_channel(article):
    trigger_for(article, "deleted", on_commit=False)
    trigger_for(article, "published", on_commit=False)
    trigger_for(article, "published", on_commit=False, model_channel=True)
    trigger_for(article, "deleted", on_commit=False, model_channel=False)
    trigger_for(article, "created", on_commit=False, model_channel_type="public")
    assert [event.channels for event in outbox] == [
        [f"presence-article_{article.pk}", "private-article"],
        [f"presence-article_{article.pk}"],
        [f"presence-article_{article.pk}", "private-article"],
        [f"presence-article_{article.pk}"],
        [f"presence-article_{article.pk}", "article"],
    ]


def test_model_channel_payload_leaves_sensitive_fields_out(db):
    account = Account.objects.create(name="shop", password="hash", access_token="tok")
    trigger_for(account, "updated", on_commit=False)
    [event] = outbox
    assert event.channels == [f"presence-account_{account.pk}", "private-account"]
    assert event.data["object"] == {"id": account.pk, "name": "shop"} or event.data["object"] == {
        "name": "shop"
    }
