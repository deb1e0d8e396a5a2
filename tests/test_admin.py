"""PusherableAdminMixin through the Django test client: events, presence, the stale-save guard."""

import json
import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from pusherable.history import object_history
from pusherable.merge import read_snapshot
from pusherable.testing import outbox
from pusherable.versions import object_version
from tests.html_forms import shown_form
from tests.testapp.models import Account, Article, Tag

pytestmark = [pytest.mark.urls("tests.guard_urls"), pytest.mark.usefixtures("empty_cache")]

VERSION_INPUT_RE = re.compile(r'<input type="hidden" name="pusherable_version" value="([^"]*)"')
SUBSCRIPTION_RE = re.compile(
    r"<script type=\"application/json\" data-pusherable-subscription>(.*?)</script>"
)


@pytest.fixture
def alice(db, django_user_model):
    return django_user_model.objects.create_superuser("alice", password="pw")


def staff(django_user_model, name, *codenames):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return django_user_model.objects.get(pk=user.pk)  # a fresh permission cache


@pytest.fixture
def bob(db, django_user_model):
    """A staff user who may view and change articles, and nothing else."""
    return staff(django_user_model, "bob", "view_article", "change_article")


@pytest.fixture
def viewer(db, django_user_model):
    return staff(django_user_model, "victor", "view_article")


@pytest.fixture
def article(db):
    article = Article.objects.create(title="Hello", body="Body")
    article.tags.set([Tag.objects.create(name="news")])
    return article


def change_url(article):
    return reverse("pusherable_admin:testapp_article_change", args=[article.pk])


def open_change_form(client, user, article):
    client.force_login(user)
    response = client.get(change_url(article))
    assert response.status_code == 200
    match = VERSION_INPUT_RE.search(response.content.decode())
    assert match, "the change form has no version input"
    return unescape(match.group(1))


def post_data(article, version=None, **changes):
    data = {
        "title": article.title,
        "body": article.body,
        "tags": [tag.pk for tag in article.tags.all()],
        "_save": "Save",
    }
    if version is not None:
        data["pusherable_version"] = version
    data.update(changes)
    return data


def subscriptions(response):
    return [json.loads(text) for text in SUBSCRIPTION_RE.findall(response.content.decode())]


# -- the change form ----------------------------------------------------------------------


def test_change_form_has_presence_the_guard_and_subscriptions(client, alice, article):
    token = open_change_form(client, alice, article)
    version = object_version(article)
    assert read_snapshot(token, article).version == version
    response = client.get(change_url(article))
    html = response.content.decode()
    assert f'data-pusherable-presence="presence-article_{article.pk}"' in html
    assert "pusherable/admin.js" in html and "pusherable/admin.css" in html
    assert 'id="pusherable-config"' in html
    declared = subscriptions(response)
    # Each holds the version the page shows and the admin's signed catch-up scope.
    scopes = {declaration.pop("scope") for declaration in declared}
    assert len(scopes) == 1 and scopes.pop()
    assert declared == [
        {
            "channels": [f"presence-article_{article.pk}"],
            "events": ["updated", "deleted"],
            "intent": "editing",
            "callback": None,
            "version": version,
        },
        {
            "channels": [f"presence-article_{article.pk}"],
            "events": ["updated", "deleted"],
            "intent": None,
            "callback": None,
            "version": version,
        },
    ]
    # The page extends the admin's own template.
    assert 'id="article_form"' in html and "submit-row" in html


def test_view_only_staff_is_viewing_and_cannot_save(client, viewer, article):
    client.force_login(viewer)
    response = client.get(change_url(article))
    assert response.status_code == 200
    assert subscriptions(response)[0]["intent"] == "viewing"
    assert client.post(change_url(article), post_data(article, title="Nope")).status_code == 403
    assert Article.objects.get(pk=article.pk).title == "Hello"
    assert outbox == []


def test_add_form_has_no_presence(client, alice):
    client.force_login(alice)
    response = client.get(reverse("pusherable_admin:testapp_article_add"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-pusherable-presence" not in html
    assert "pusherable_version" not in html


# -- events -------------------------------------------------------------------------------


def test_save_sends_updated_after_commit(client, bob, article, django_capture_on_commit_callbacks):
    version = open_change_form(client, bob, article)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(change_url(article), post_data(article, version, title="New title"))
        assert response.status_code == 302
    assert outbox == []  # nothing before the commit
    for callback in callbacks:
        callback()
    [event] = outbox
    assert event.name == "updated"
    assert event.channels == [f"presence-article_{article.pk}", "private-article"]
    data = event.data
    assert data["changed"] == {"title": "New title"}
    assert data["previous"] == {"title": "Hello"}
    assert data["previous_version"] == read_snapshot(version, article).version
    assert data["version"] == object_version(Article.objects.get(pk=article.pk))
    assert data["user"] == "bob"
    assert data["object"]["tags"] == [tag.pk for tag in article.tags.all()]
    assert [change.user for change in object_history(Article, article.pk)] == ["bob"]


def test_save_without_changes_sends_nothing(client, bob, article, commit):
    version = open_change_form(client, bob, article)
    with commit():
        assert client.post(change_url(article), post_data(article, version)).status_code == 302
    assert outbox == []


def test_line_endings_alone_are_no_change(client, bob, article, commit):
    Article.objects.filter(pk=article.pk).update(body="One.\nTwo.")
    article.refresh_from_db()
    version = open_change_form(client, bob, article)
    with commit():
        response = client.post(
            change_url(article), post_data(article, version, body="One.\r\nTwo.")
        )
    assert response.status_code == 302
    assert outbox == []


def test_sender_tab_is_excluded(client, bob, article, commit):
    version = open_change_form(client, bob, article)
    with commit():
        client.post(
            change_url(article),
            post_data(article, version, title="X", pusherable_socket_id="123.456"),
        )
    assert outbox[0].socket_id == "123.456"


def test_add_sends_created_to_both_channels(client, alice, commit):
    client.force_login(alice)
    with commit():
        response = client.post(
            reverse("pusherable_admin:testapp_article_add"),
            {"title": "Brand new", "body": "", "_save": "Save"},
        )
    assert response.status_code == 302
    created = Article.objects.get(title="Brand new")
    [event] = outbox
    assert event.name == "created"
    assert event.channels == [f"presence-article_{created.pk}", "private-article"]
    assert event.data["user"] == "alice"


def test_delete_sends_the_snapshot(client, alice, article, commit):
    client.force_login(alice)
    pk = article.pk
    with commit():
        response = client.post(
            reverse("pusherable_admin:testapp_article_delete", args=[pk]), {"post": "yes"}
        )
    assert response.status_code == 302
    [event] = outbox
    assert event.name == "deleted"
    assert event.channels == [f"presence-article_{pk}", "private-article"]
    assert event.data["pk"] == pk and event.data["object"]["title"] == "Hello"


def test_admin_events_keep_the_size_guard_and_their_json(client, alice, article, commit, settings):
    settings.PUSHERABLE_MAX_PAYLOAD_SIZE = 200
    client.force_login(alice)
    pk = article.pk
    with commit():
        client.post(reverse("pusherable_admin:testapp_article_delete", args=[pk]), {"post": "yes"})
    [event] = outbox
    assert event.data["truncated"] is True
    assert event.data["pk"] == pk
    # Encoded once, by the guard, and handed to the backend as is.
    assert json.loads(event.encoded_data) == event.data


def test_bulk_delete_sends_one_event_per_object(client, alice, article, commit):
    other = Article.objects.create(title="Other")
    client.force_login(alice)
    with commit():
        response = client.post(
            reverse("pusherable_admin:testapp_article_changelist"),
            {
                "action": "delete_selected",
                "_selected_action": [article.pk, other.pk],
                "post": "yes",
            },
        )
    assert response.status_code == 302
    assert sorted(event.data["pk"] for event in outbox) == sorted([article.pk, other.pk])
    assert {event.name for event in outbox} == {"deleted"}


def test_sensitive_fields_stay_out_of_admin_events(client, alice, commit):
    account = Account.objects.create(name="shop", password="old")
    client.force_login(alice)
    url = reverse("pusherable_admin:testapp_account_change", args=[account.pk])
    version = unescape(VERSION_INPUT_RE.search(client.get(url).content.decode()).group(1))
    with commit():
        client.post(url, {"name": "shop2", "password": "new", "pusherable_version": version})
    [event] = outbox
    assert "password" not in json.dumps(event.data)
    assert event.data["changed"] == {"name": "shop2"}
    assert event.channels[1] == "private-account"


# -- the stale-save guard -----------------------------------------------------------------


def test_stale_admin_saves_of_other_fields_merge(client, alice, bob, article, commit):
    bob_token = open_change_form(client, bob, article)
    alice_token = open_change_form(client, alice, article)
    with commit():
        client.post(change_url(article), post_data(article, alice_token, title="Alice's title"))
    outbox.clear()

    client.force_login(bob)
    with commit():
        response = client.post(change_url(article), post_data(article, bob_token, body="Bob's"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.body) == ("Alice's title", "Bob's")
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert "alice's new Title was kept, with your changes." in messages
    [event] = [event for event in outbox if event.channels[0].endswith(f"_{article.pk}")]
    assert event.data["changed"] == {"body": "Bob's"}


def test_stale_admin_save_of_the_same_field_is_refused_with_both_values(
    client, alice, bob, article, commit
):
    bob_token = open_change_form(client, bob, article)
    alice_token = open_change_form(client, alice, article)
    with commit():
        client.post(
            change_url(article), post_data(article, alice_token, title="Alice's title", body="A")
        )
    outbox.clear()

    client.force_login(bob)
    with commit():
        response = client.post(change_url(article), post_data(article, bob_token, title="Bob's"))
    assert response.status_code == 200
    text = unescape(response.content.decode())
    assert "errornote" in text
    assert "alice also changed Title since you opened this form, so nothing was saved yet." in text
    assert "alice changed this to “Alice's title” since you opened the form." in text
    assert Article.objects.get(pk=article.pk).title == "Alice's title"
    assert outbox == []  # a refused save announces nothing

    # The form now holds Alice's body and Bob's title: saving it again reverts nothing.
    shown = shown_form(response.content.decode().split('id="article_form"')[1], _save="Save")
    assert (shown["title"], shown["body"]) == ("Bob's", "A")
    with commit():
        response = client.post(change_url(article), shown)
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.body) == ("Bob's", "A")


def test_admin_without_the_guard(client, alice, commit):
    tag = Tag.objects.create(name="news")
    client.force_login(alice)
    url = reverse("pusherable_admin:testapp_tag_change", args=[tag.pk])
    html = client.get(url).content.decode()
    assert "pusherable_version" not in html
    assert "data-pusherable-presence" not in html  # pusher_presence = False
    with commit():
        assert client.post(url, {"name": "tech", "pusherable_version": "stale"}).status_code == 302
    assert Tag.objects.get(pk=tag.pk).name == "tech"
    assert outbox[0].data["previous"] == {"name": "news"}


# -- the change list ------------------------------------------------------------------------


def test_change_list_subscribes_to_the_model_channel(client, bob, article):
    client.force_login(bob)
    response = client.get(reverse("pusherable_admin:testapp_article_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-pusherable-live-list="private-article"' in html
    assert "data-pusherable-editable" not in html
    assert subscriptions(response) == [
        {
            "channels": ["private-article"],
            "events": ["created", "updated", "deleted"],
            "intent": None,
            "callback": None,
        }
    ]
    assert 'id="result_list"' in html
