"""The README's three steps taken literally, with only the ``PUSHER_*`` settings.

The view, the template tags and ``pusherable_notify`` are read from README.md
(:mod:`tests.readme`), so the README cannot drift from what these tests prove:
the page subscribes exactly to the channels the view sends ``update`` and
``updated`` on, and the authorization endpoint lets an editor in.
"""

import json
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.template import TemplateSyntaxError
from django.test import override_settings
from django.urls import reverse

from pusherable.channels import channel_for
from pusherable.testing import outbox
from tests.readme import read_page, readme_page, readme_templates

pytestmark = [pytest.mark.urls("tests.readme_urls"), pytest.mark.usefixtures("empty_cache")]

SOCKET_ID = "123.456"


@pytest.fixture
def editor(db, django_user_model):
    user = django_user_model.objects.create_user("editor", first_name="Edith", password="pw")
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_article", "change_article"])
    )
    return user


@pytest.fixture
def readme_settings(settings):
    """The test project's settings with the README's page; no channel setting at all."""
    settings.TEMPLATES = readme_templates(readme_page())
    return settings


def edit_url(article):
    return reverse("readme-article-edit", args=[article.pk])


def test_only_the_credentials_are_configured():
    # The locmem backend keeps events in pusherable.testing.outbox instead of sending
    # them: it decides nothing about channels. Any other setting would make the
    # README tests prove less than "with only the PUSHER_* settings".
    configured = {name for name in dir(django_settings) if name.startswith("PUSHERABLE_")}
    assert configured == {"PUSHERABLE_BACKEND"}


def test_the_page_listens_exactly_where_the_view_sends(
    client, editor, article, readme_settings, commit
):
    client.force_login(editor)
    with commit():
        page = read_page(client.get(edit_url(article)))
    [update] = outbox
    [declaration] = page.subscriptions
    assert update.name == "update"
    assert declaration["channels"] == update.channels == [channel_for(article)]
    assert declaration["intent"] == "editing"
    assert {"update", "updated"} <= set(declaration["events"])

    outbox.clear()
    with commit():
        response = client.post(edit_url(article), {**page.fields, "title": "Saved"})
    assert response.status_code == 302
    [updated] = outbox
    assert updated.name == "updated"
    assert set(declaration["channels"]) <= set(updated.channels)
    # What step 3 reads.
    assert updated.data["user"] == "editor"
    assert updated.data["changed"] == {"title": "Saved"}


def test_the_authorization_endpoint_lets_the_editor_in(client, editor, article, readme_settings):
    client.force_login(editor)
    [declaration] = read_page(client.get(edit_url(article))).subscriptions
    [channel] = declaration["channels"]
    response = client.post(
        reverse("pusherable:auth"),
        urlencode({"socket_id": SOCKET_ID, "channel_name": channel, "intent": "editing"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    member = json.loads(response.json()["channel_data"])
    assert member == {
        "user_id": str(editor.pk),
        "user_info": {"id": str(editor.pk), "name": "Edith", "intent": "editing"},
    }


@pytest.mark.parametrize("channel_type", ["presence", "private", "public"])
def test_without_intent_every_channel_type_works(
    client, editor, article, settings, commit, channel_type
):
    settings.TEMPLATES = readme_templates(readme_page().replace(" intent='editing'", ""))
    client.force_login(editor)
    with override_settings(PUSHERABLE_CHANNEL_TYPE=channel_type), commit():
        [declaration] = read_page(client.get(edit_url(article))).subscriptions
    [update] = outbox
    assert declaration["channels"] == update.channels == [channel_for(article, channel_type)]


@pytest.mark.parametrize("channel_type", ["private", "public"])
def test_intent_without_presence_fails_at_render_saying_what_to_change(
    client, editor, article, readme_settings, channel_type
):
    client.force_login(editor)
    channel = channel_for(article, channel_type)
    with (
        override_settings(PUSHERABLE_CHANNEL_TYPE=channel_type),
        pytest.raises(TemplateSyntaxError) as error,
    ):
        client.get(edit_url(article))
    assert str(error.value) == (
        "pusherable_subscribe: intent='editing' needs a presence channel, but this view "
        f"sends its events on {channel}: set PUSHERABLE_CHANNEL_TYPE = 'presence' or the "
        "view's pusher_channel_type = 'presence', or drop intent=."
    )
