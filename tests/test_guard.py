"""The collision guard: version tokens, the change history, and stale saves refused.

Every request here is a plain form POST, as a browser without JavaScript sends it.
"""

import json
import re
from html import unescape
from unittest import mock

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from pusherable import guard, trigger_for
from pusherable.exceptions import ConfigurationError
from pusherable.guard import changed_form_fields, describe_value
from pusherable.history import (
    changes_since,
    object_history,
    record_change,
    record_change_on_commit,
)
from pusherable.merge import Snapshot, read_snapshot, sign_snapshot
from pusherable.testing import outbox
from pusherable.versions import object_version, version_digest, version_field_of
from tests.article_forms import form_data
from tests.html_forms import input_attrs, shown_form
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


# -- the form carries its snapshot --------------------------------------------------------


def test_the_form_renders_its_snapshot_without_javascript(client, article, alice):
    url = reverse("guard-article-edit", args=[article.pk])
    token = open_form(client, alice, url)
    snapshot = read_snapshot(token, article)
    assert snapshot is not None and snapshot.version == object_version(article)
    assert {"title", "body", "tags", "author"} <= set(snapshot.fields)
    html = client.get(url).content.decode()
    assert input_attrs(html, "pusherable_version")["data-pusherable-version"] == object_version(
        article
    )
    assert 'data-pusherable-model="testapp.article"' in html
    assert f'data-pusherable-pk="{article.pk}"' in html
    assert "data-pusherable-guard" in html
    assert "&quot;title&quot;:&quot;Title&quot;" in html  # labels for the live notice
    assert "Hello" not in token  # fingerprints, not values


def test_a_snapshot_is_bound_to_its_object_and_signed(article, db):
    other = Article.objects.create(title="Other")
    token = sign_snapshot(Snapshot("testapp.article", str(article.pk), "t:1", {"title": "x"}))
    assert read_snapshot(token, article).fields == {"title": "x"}
    assert read_snapshot(token, other) is None
    assert read_snapshot(token[:-2] + "xx", article) is None
    assert read_snapshot("t:2026-01-01", article) is None


def test_version_tag_for_templates_that_render_fields_by_hand(client, article, alice):
    url = reverse("guard-article-hand", args=[article.pk])
    assert read_snapshot(open_form(client, alice, url), article) is not None


def test_version_tag_renders_nothing_for_unguarded_forms(client, article, alice):
    client.force_login(alice)
    html = client.get(reverse("guard-article-unguarded", args=[article.pk])).content.decode()
    assert "pusherable_version" not in html


# -- saves: the three-way merge ------------------------------------------------------------


def test_save_with_a_fresh_form_goes_through(client, article, alice, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    token = open_form(client, alice, url)
    version = object_version(article)
    with commit():
        response = client.post(url, form_data(article, token, title="Hello world"))
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
    assert list(get_messages(response.wsgi_request)) == []  # nothing merged in


def test_disjoint_stale_saves_both_stand(client, article, alice, bob, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    bob_token = open_form(client, bob, url)  # Bob opens the form first...
    alice_token = open_form(client, alice, url)
    with commit():
        client.post(url, form_data(article, alice_token, title="Alice's title"))  # ...Alice saves
    outbox.clear()

    client.force_login(bob)
    with commit():
        response = client.post(url, form_data(article, bob_token, body="Bob's body"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.body) == ("Alice's title", "Bob's body")
    [message] = get_messages(response.wsgi_request)
    assert str(message) == "alice's new Title was kept, with your changes."
    [event] = [event for event in outbox if event.channels[0].endswith(f"_{article.pk}")]
    assert event.data["changed"] == {"body": "Bob's body"}  # not the title Bob left alone


def test_a_conflict_refuses_only_its_fields_and_saving_again_reverts_nothing(
    client, article, alice, bob, commit
):
    """The issue's case: Bob's stale form would have put Alice's slug back."""
    url = reverse("guard-article-edit", args=[article.pk])
    bob_token = open_form(client, bob, url)
    alice_token = open_form(client, alice, url)
    with commit():
        client.post(url, form_data(article, alice_token, title="Alice's title", slug="alices"))
    outbox.clear()

    client.force_login(bob)
    stale = form_data(article, bob_token, title="Bob's title", body="Bob's body")
    with commit():
        response = client.post(url, stale)
    assert response.status_code == 200
    assert [event.name for event in outbox] == ["update"]  # rendered again, nothing saved
    article.refresh_from_db()
    assert (article.title, article.slug, article.body) == ("Alice's title", "alices", "Body")
    text = page_errors(response)
    assert "alice also changed Title since you opened this form, so nothing was saved yet." in text
    assert "alice changed this to “Alice's title” since you opened the form." in text
    html = response.content.decode()
    shown = shown_form(html)
    # Bob's value where both changed, and for what only he changed; Alice's slug.
    assert (shown["title"], shown["body"], shown["slug"]) == (
        "Bob's title",
        "Bob's body",
        "alices",
    )
    conflicts = json.loads(input_attrs(html, "pusherable_version")["data-pusherable-conflicts"])
    assert conflicts == {
        "title": {"theirs": "“Alice's title”", "data": "Alice's title", "user": "alice"}
    }
    new_token = shown["pusherable_version"]
    assert read_snapshot(new_token, article).version == object_version(article)

    # Bob saves the form he is shown: his title and body, and nothing of Alice's reverted.
    with commit():
        response = client.post(url, shown)
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.slug, article.body) == ("Bob's title", "alices", "Bob's body")


def test_use_theirs_then_save_keeps_their_value(client, article, alice, bob, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    bob_token = open_form(client, bob, url)
    alice_token = open_form(client, alice, url)
    with commit():
        client.post(url, form_data(article, alice_token, title="Alice's title"))
    client.force_login(bob)
    response = client.post(url, form_data(article, bob_token, title="Bob's", body="Bob's body"))
    shown = shown_form(response.content, title="Alice's title")  # the "use theirs" button
    with commit():
        assert client.post(url, shown).status_code == 302
    article.refresh_from_db()
    assert (article.title, article.body) == ("Alice's title", "Bob's body")


def test_both_changing_a_field_to_the_same_value_is_no_conflict(
    client, article, alice, bob, commit
):
    url = reverse("guard-article-edit", args=[article.pk])
    bob_token = open_form(client, bob, url)
    alice_token = open_form(client, alice, url)
    with commit():
        client.post(url, form_data(article, alice_token, title="Same"))
    client.force_login(bob)
    with commit():
        response = client.post(url, form_data(article, bob_token, title="Same", body="B"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.body) == ("Same", "B")


def test_changes_made_without_a_form_are_merged_not_reverted(client, article, bob, commit):
    """QuerySet.update() and many-to-many changes without save() move no version field."""
    url = reverse("guard-article-edit", args=[article.pk])
    token = open_form(client, bob, url)
    data = form_data(article, token, title="Bob's")
    Article.objects.filter(pk=article.pk).update(slug="from-the-shell", body="Shell body")
    extra = Tag.objects.create(name="extra")
    article.tags.add(extra)
    with commit():
        response = client.post(url, data)
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.slug, article.body) == ("Bob's", "from-the-shell", "Shell body")
    assert extra in article.tags.all()
    [message] = get_messages(response.wsgi_request)
    assert str(message).startswith("Someone else's changes to Slug, Body and Tags were kept")


def test_a_conflict_with_a_change_made_without_a_form(client, article, bob, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    token = open_form(client, bob, url)
    Article.objects.filter(pk=article.pk).update(title="From the shell")
    response = client.post(url, form_data(article, token, title="Bob's"))
    assert response.status_code == 200
    text = page_errors(response)
    assert "Someone else changed this to “From the shell” since you opened the form." in text
    assert Article.objects.get(pk=article.pk).title == "From the shell"


def test_fields_outside_the_form_changed_meanwhile_are_kept(client, article, bob, commit):
    """A save between the view's load and its lock would otherwise write back old values."""
    url = reverse("guard-article-edit", args=[article.pk])
    token = open_form(client, bob, url)
    real_fetch = guard.fetch_stored

    def fetch_after_a_concurrent_save(instance):
        Article.objects.filter(pk=instance.pk).update(api_token="set-meanwhile")
        return real_fetch(instance)

    with (
        commit(),
        mock.patch("pusherable.mixins.update.fetch_stored", fetch_after_a_concurrent_save),
    ):
        response = client.post(url, form_data(article, token, title="Bob's"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.api_token) == ("Bob's", "set-meanwhile")


def test_save_after_the_object_was_deleted_is_refused(client, article, bob):
    url = reverse("guard-article-edit", args=[article.pk])
    token = open_form(client, bob, url)
    data = form_data(article, token, title="Bob's")
    # Deleted between the view's load and the guard's lock: refused, never re-created.
    with mock.patch("pusherable.mixins.update.fetch_stored", return_value=None):
        response = client.post(url, data)
    assert response.status_code == 200
    assert "This article was deleted since you opened this form" in page_errors(response)
    Article.objects.filter(pk=article.pk).delete()
    assert client.post(url, data).status_code == 404  # the view's own answer


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


def test_an_unreadable_token_conflicts_wherever_values_differ(client, article, alice, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    client.force_login(alice)
    response = client.post(url, form_data(article, "tampered", title="Mine"))
    assert response.status_code == 200
    assert "Someone else also changed Title" in page_errors(response)
    # A bare version token of the current version (a form from before the merge) saves.
    with commit():
        response = client.post(url, form_data(article, object_version(article), title="Mine"))
    assert response.status_code == 302


def test_opting_out_overwrites(client, article, alice, bob, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    stale = open_form(client, bob, url)
    token = open_form(client, alice, url)
    with commit():
        client.post(url, form_data(article, token, title="Alice's"))
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


def test_digest_versions_on_a_model_without_auto_now(client, alice, bob, commit):
    alice.first_name, alice.last_name = "Alice", "Liddell"
    alice.save()
    tag = Tag.objects.create(name="news")
    url = reverse("guard-tag-edit", args=[tag.pk])
    stale = open_form(client, bob, url)
    token = open_form(client, alice, url)
    assert read_snapshot(stale, tag).version == object_version(tag)
    with commit():
        assert (
            client.post(url, {"name": "politics", "pusherable_version": token}).status_code == 302
        )
    client.force_login(bob)
    response = client.post(url, {"name": "sport", "pusherable_version": stale})
    assert response.status_code == 200
    # The display name, as presence shows it, not the username.
    assert "Alice Liddell changed this to “politics”" in page_errors(response)
    assert Tag.objects.get(pk=tag.pk).name == "politics"


def test_line_endings_alone_are_no_change(client, alice, bob, commit):
    """Untouched text saved by a browser (CRLF for LF) is no change and no conflict."""
    document = Document.objects.create(key="notes", content="One.\nTwo.")
    url = reverse("guard-document-edit", args=[document.pk])
    stale = open_form(client, bob, url)
    token = open_form(client, alice, url)
    with commit():
        response = client.post(url, {"content": "One.\r\nTwo.", "pusherable_version": token})
    assert response.status_code == 302
    assert outbox == []  # nothing changed, so nothing was announced

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
    token = open_form(client, alice, url)
    with commit():
        client.post(url, {"name": "shop", "password": "new-hash", "pusherable_version": token})
    [event] = [e for e in outbox if e.name == "updated"]
    assert "password" not in event.data["changed"] and "password" not in event.data["previous"]
    assert object_history(Account, account.pk)[0].fields == {"password": None}
    client.force_login(bob)
    response = client.post(url, {"name": "mine", "password": "x", "pusherable_version": stale})
    text = page_errors(response)
    assert "alice changed this since you opened the form. Save again to keep yours." in text
    assert "new-hash" not in text.split("<form")[0] and "data-pusherable-conflicts" in text
    conflicts = json.loads(
        input_attrs(response.content, "pusherable_version")["data-pusherable-conflicts"]
    )
    assert conflicts == {"password": {"theirs": None, "data": None, "user": "alice"}}


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
