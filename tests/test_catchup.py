"""Catch-up after a reconnection: the ``pusherable:changes`` endpoint and what pages declare."""

import json
import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from pusherable import catchup
from pusherable.channels import channel_for, channel_for_model
from pusherable.history import object_history
from pusherable.versions import object_version
from tests.article_forms import form_data
from tests.guard_urls import TagEdit
from tests.testapp.models import Account, Article, Tag

pytestmark = [pytest.mark.urls("tests.catchup_urls"), pytest.mark.usefixtures("empty_cache")]

SUBSCRIPTION_RE = re.compile(
    r"<script type=\"application/json\" data-pusherable-subscription>(.*?)</script>"
)


def grant(user, *codenames):
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


@pytest.fixture
def viewer(db, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw")
    grant(user, "view_article", "view_account", "view_tag")
    return user


@pytest.fixture
def stranger(db, django_user_model):
    return django_user_model.objects.create_user("stranger", password="pw")


def ask(client, user, channel, since, **extra):
    if user is not None:
        client.force_login(user)
    return client.get(reverse("pusherable:changes"), {"channel": channel, "since": since, **extra})


def declarations(response):
    return [
        json.loads(unescape(text)) for text in SUBSCRIPTION_RE.findall(response.content.decode())
    ]


def save(client, user, url, article, commit, **changes):
    """Save the article's edit form as ``user``, from the version it has now."""
    client.force_login(user)
    with commit():
        response = client.post(url, form_data(article, object_version(article), **changes))
    assert response.status_code == 302, response.content.decode()[:2000]
    article.refresh_from_db()


# -- what the endpoint answers ----------------------------------------------------------------


def test_url_name():
    assert reverse("pusherable:changes") == "/pusherable/changes/"


def test_an_up_to_date_page_is_told_nothing_changed(client, article, viewer):
    version = object_version(article)
    response = ask(client, viewer, channel_for(article), version)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    answer = response.json()
    assert answer["changes"] == []
    assert answer["version"] == version
    assert answer["deleted"] is False
    assert (answer["model"], answer["pk"]) == ("testapp.article", article.pk)
    assert answer["object"]["title"] == "Hello"


def test_missed_saves_come_back_in_order_like_updated_events(
    client, article, alice, viewer, commit
):
    url = reverse("guard-article-edit", args=[article.pk])
    since = object_version(article)
    save(client, alice, url, article, commit, title="First")
    middle = object_version(article)
    save(client, alice, url, article, commit, title="Second", body="New body")
    answer = ask(client, viewer, channel_for(article, "presence"), since).json()
    first, second = answer["changes"]
    assert first["event"] == second["event"] == "updated"
    assert (first["model"], first["pk"]) == ("testapp.article", article.pk)
    assert first["changed"] == {"title": "First"}
    assert first["previous"] == {"title": "Hello"}
    assert (first["previous_version"], first["version"]) == (since, middle)
    assert first["user"] == "alice" and first["user_id"] == str(alice.pk)
    assert first["at"]
    assert second["changed"] == {"title": "Second", "body": "New body"}
    assert second["previous"] == {"title": "First", "body": "Body"}
    assert second["version"] == answer["version"] == object_version(article)
    # From the middle, only what came after.
    later = ask(client, viewer, channel_for(article), middle).json()
    assert [change["version"] for change in later["changes"]] == [answer["version"]]


def test_an_evicted_history_answers_null_changes_and_the_object(
    client, article, alice, viewer, commit
):
    url = reverse("guard-article-edit", args=[article.pk])
    since = object_version(article)
    save(client, alice, url, article, commit, title="While you were away")
    cache.clear()
    answer = ask(client, viewer, channel_for(article), since).json()
    assert answer["changes"] is None
    assert answer["version"] == object_version(article)
    assert answer["object"]["title"] == "While you were away"


def test_a_change_nothing_recorded_answers_null_changes(client, article, alice, viewer, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    since = object_version(article)
    save(client, alice, url, article, commit, title="Recorded")
    # A change outside any view: the chain of the history no longer reaches the row.
    Article.objects.filter(pk=article.pk).update(
        title="From a script", updated_at="2030-01-01T00:00Z"
    )
    answer = ask(client, viewer, channel_for(article), since).json()
    assert answer["changes"] is None
    assert answer["object"]["title"] == "From a script"


def test_sensitive_fields_never_travel(client, alice, viewer, commit):
    account = Account.objects.create(name="shop", password="old-hash", access_token="tok-1")
    url = reverse("guard-account-edit", args=[account.pk])
    since = object_version(account)
    client.force_login(alice)
    with commit():
        response = client.post(
            url, {"name": "shop 2", "password": "new-hash", "pusherable_version": since}
        )
    assert response.status_code == 302
    assert object_history(Account, account.pk)[0].fields["password"] is None
    response = ask(client, viewer, channel_for(account), since)
    text = response.content.decode()
    assert "hash" not in text and "tok-1" not in text
    [change] = response.json()["changes"]
    assert change["changed"] == {"name": "shop 2"}
    assert "password" not in response.json()["object"]
    assert "access_token" not in response.json()["object"]


def test_a_deleted_object_is_reported_to_those_who_may_see_the_model(client, article, viewer):
    channel = channel_for(article)
    since = object_version(article)
    pk = article.pk
    article.delete()
    answer = ask(client, viewer, channel, since).json()
    assert answer == {
        "model": "testapp.article",
        "pk": pk,
        "version": None,
        "deleted": True,
        "changes": [],
        "object": None,
    }


# -- who may ask ----------------------------------------------------------------------------


def test_refused_exactly_like_a_subscription(client, article, stranger):
    response = ask(client, stranger, channel_for(article), "t:x")
    assert response.status_code == 403
    assert response.json() == {"error": "You may not view this article."}
    assert ask(Client(), None, channel_for(article), "t:x").status_code == 403


def test_a_missing_row_looks_the_same_as_a_forbidden_one(client, article, stranger):
    existing = ask(client, stranger, channel_for(article), "t:x")
    missing = ask(client, stranger, f"private-article_{article.pk + 1000}", "t:x")
    assert (existing.status_code, existing.json()) == (missing.status_code, missing.json())
    anonymous_missing = ask(Client(), None, f"private-article_{article.pk + 1000}", "t:x")
    assert anonymous_missing.status_code == 403


def test_object_level_permission_is_enough_while_the_object_exists(
    client, settings, article, alice
):
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "tests.authz.AuthorBackend",
    ]
    channel = channel_for(article)
    assert ask(client, alice, channel, "t:x").status_code == 200  # she wrote it
    article.delete()
    # Gone: only the model's channel policy could tell her, and it does not grant her.
    assert ask(client, alice, channel, "t:x").status_code == 403


@pytest.mark.parametrize(
    ("channel", "status"),
    [
        ("", 400),
        ("not a channel!", 400),
        ("private-nosuchmodel_1", 404),
        ("private-article_abc", 400),
        ("private-article", 400),  # a model's channel
    ],
)
def test_bad_channels(client, viewer, channel, status):
    response = ask(client, viewer, channel, "t:x")
    assert response.status_code == status
    assert "error" in response.json()


def test_since_is_required_and_short(client, article, viewer):
    assert ask(client, viewer, channel_for(article), "").status_code == 400
    assert ask(client, viewer, channel_for(article), "t:" + "x" * 300).status_code == 400


def test_public_channels_are_authorized_too(client, article, stranger, viewer):
    channel = channel_for(article, "public")
    assert ask(client, stranger, channel, "t:x").status_code == 403
    assert ask(client, viewer, channel, "t:x").status_code == 200


def test_get_only(client, article, viewer):
    client.force_login(viewer)
    response = client.post(reverse("pusherable:changes"), {"channel": channel_for(article)})
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_rate_limited_per_user_and_channel(client, article, viewer):
    count, _ = catchup.CATCH_UP_RATE_LIMIT
    channel = channel_for(article)
    for _ in range(count):
        assert ask(client, viewer, channel, "t:x").status_code == 200
    assert ask(client, viewer, channel, "t:x").status_code == 429
    # Another channel has its own budget.
    assert ask(client, viewer, channel_for(article, "private"), "t:x").status_code == 200


# -- the page's version and the view's rules --------------------------------------------------


def test_the_declaration_carries_the_version_and_the_views_scope(client, article, alice, viewer):
    client.force_login(alice)
    response = client.get(reverse("catchup-rating-edit", args=[article.pk]))
    [declaration] = declarations(response)
    assert declaration["version"] == object_version(article, "rating") == "t:0.0"
    assert declaration["scope"]
    answer = ask(client, viewer, channel_for(article), "t:0.0", scope=declaration["scope"]).json()
    # Rebuilt from the scope: the view's version field and its payload rules.
    assert answer["changes"] == [] and answer["version"] == "t:0.0"
    assert "body" not in answer["object"] and answer["object"]["title"] == "Hello"
    # Without it, the model's defaults apply: another version, the body included.
    default = ask(client, viewer, channel_for(article), "t:0.0").json()
    assert default["version"] == object_version(article) and default["changes"] is None
    assert default["object"]["body"] == "Body"


def test_changes_follow_the_views_payload_rules(client, article, alice, viewer, commit):
    url = reverse("catchup-rating-edit", args=[article.pk])
    client.force_login(alice)
    [declaration] = declarations(client.get(url))
    with commit():
        response = client.post(
            url,
            form_data(article, declaration["version"], title="T2", body="B2", rating="1.5"),
        )
    assert response.status_code == 302
    answer = ask(
        client, viewer, channel_for(article), declaration["version"], scope=declaration["scope"]
    ).json()
    [change] = answer["changes"]
    assert change["version"] == answer["version"] == "t:1.5"
    assert change["changed"] == {"title": "T2", "rating": 1.5}  # no body


def test_changes_recorded_by_another_view_keep_to_this_pages_rules(
    client, article, alice, viewer, commit
):
    client.force_login(alice)
    [declaration] = declarations(client.get(reverse("catchup-bodyless-edit", args=[article.pk])))
    # Saved from a view that sends the body: the history has it.
    url = reverse("guard-article-edit", args=[article.pk])
    save(client, alice, url, article, commit, title="T2", body="Secret draft")
    assert object_history(Article, article.pk)[-1].fields["body"] == ("Body", "Secret draft")
    response = ask(
        client, viewer, channel_for(article), declaration["version"], scope=declaration["scope"]
    )
    [change] = response.json()["changes"]
    assert change["changed"] == {"title": "T2"} and change["previous"] == {"title": "Hello"}
    assert "Secret draft" not in response.content.decode()


def test_a_forged_or_foreign_scope_is_refused(client, article, viewer):
    tag = Tag.objects.create(name="news")
    foreign = catchup.scope_token(TagEdit(), Tag)
    channel = channel_for(article)
    assert ask(client, viewer, channel, "t:x", scope=foreign).status_code == 400
    assert ask(client, viewer, channel, "t:x", scope="forged").status_code == 400
    assert (
        ask(client, viewer, channel_for(tag), object_version(tag), scope=foreign).json()["changes"]
        == []
    )


def test_the_admin_change_form_declares_the_admins_scope(client, article, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="pw")
    client.force_login(admin)
    response = client.get(f"/admin/testapp/article/{article.pk}/change/")
    [presence, private] = declarations(response)
    assert presence["version"] == private["version"] == object_version(article)
    answer = ask(client, admin, private["channels"][0], private["version"], scope=private["scope"])
    assert answer.json()["changes"] == []


def test_a_refused_form_declares_the_stored_version(client, article, alice, commit):
    url = reverse("guard-article-edit", args=[article.pk])
    stale = object_version(article)
    save(client, alice, url, article, commit, title="Alice's")
    with commit():
        response = client.post(url, form_data(article, stale, title="Bob's"))
    assert response.status_code == 200  # refused, shown again with Bob's title
    [declaration] = declarations(response)
    assert declaration["version"] == object_version(article)


def test_model_channels_declare_no_version(client, viewer):
    from django.template import Context, Template

    html = Template(
        "{% load pusherable_tags %}{% pusherable_subscribe 'created' model='testapp.article' %}"
    ).render(Context({}))
    [declaration] = [json.loads(unescape(t)) for t in SUBSCRIPTION_RE.findall(html)]
    assert declaration["channels"] == [channel_for_model(Article)]
    assert "version" not in declaration
