"""The page listens where the events go: every mismatch fails at render, saying what to change.

A subscription names channels; the mixins, ``trigger_for`` and the admin send on
channels. Where the tag can know where the events go (the view in the context,
else the settings) and its arguments would listen elsewhere, rendering fails with
a message that names the change to make, rather than a page that never hears a thing.
"""

import json
import re

import pytest
from django.template import Context, RequestContext, Template, TemplateSyntaxError
from django.test import override_settings
from django.urls import reverse

from pusherable.channels import channel_for
from tests.testapp.models import Article

SUBSCRIPTION_RE = re.compile(
    r"<script type=\"application/json\" data-pusherable-subscription>(.*?)</script>"
)


def subscribe(arguments, context=None, request=None):
    template = Template("{% load pusherable_tags %}{% pusherable_subscribe " + arguments + " %}")
    if request is not None:
        return template.render(RequestContext(request, context or {}))
    return template.render(Context(context or {}))


class SendingView:
    """A view as the mixins are: it sends on ``get_pusher_channels()``."""

    def __init__(self, obj, channel_type=None):
        self.object = obj
        self.channel_type = channel_type

    def get_pusher_channels(self):
        return [channel_for(self.object, self.channel_type)]


def error_of(arguments, context):
    with pytest.raises(TemplateSyntaxError) as error:
        subscribe(arguments, context)
    return str(error.value)


# -- a view in the context ---------------------------------------------------------------


def test_a_channel_type_the_view_does_not_send_on_is_an_error():
    view = SendingView(Article(pk=1))
    assert error_of(
        "'update' object channel_type='private'", {"view": view, "object": view.object}
    ) == (
        "pusherable_subscribe: channel_type='private' names none of the channels this view "
        "sends its events on (presence-article_1): drop channel_type=, or set the view's "
        "pusher_channel_type = 'private'."
    )


def test_a_channel_type_the_view_sends_on_is_kept():
    view = SendingView(Article(pk=1), "public")
    html = subscribe("'update' channel_type='public'", {"view": view})
    assert '"channels":["article_1"]' in html


def test_intent_on_a_view_that_sends_on_a_private_channel():
    view = SendingView(Article(pk=1), "private")
    assert error_of("'update' intent='viewing'", {"view": view}) == (
        "pusherable_subscribe: intent='viewing' needs a presence channel, but this view sends "
        "its events on private-article_1: set PUSHERABLE_CHANNEL_TYPE = 'presence' or the "
        "view's pusher_channel_type = 'presence', or drop intent=."
    )


def test_intent_with_an_explicit_other_channel_type():
    assert error_of("'update' a intent='editing' channel_type='public'", {"a": Article(pk=1)}) == (
        "pusherable_subscribe: intent='editing' needs a presence channel, but "
        "channel_type='public': use channel_type='presence', or drop intent=."
    )


# -- no view: the settings say where the events go ---------------------------------------


@override_settings(PUSHERABLE_CHANNEL_TYPE="private")
def test_intent_while_the_settings_send_on_private_channels():
    assert error_of("'update' a intent='editing'", {"a": Article(pk=4)}) == (
        "pusherable_subscribe: intent='editing' needs a presence channel, but "
        "PUSHERABLE_CHANNEL_TYPE is 'private', so events about this object go to "
        "private-article_4: set PUSHERABLE_CHANNEL_TYPE = 'presence', pass "
        "channel_type='presence' if your events are sent there, or drop intent=."
    )


@override_settings(PUSHERABLE_CHANNEL_TYPE="private")
def test_an_explicit_presence_channel_type_is_taken_at_its_word():
    html = subscribe("'update' a intent='editing' channel_type='presence'", {"a": Article(pk=4)})
    assert '"channels":["presence-article_4"]' in html


def test_without_a_view_the_default_settings_give_presence():
    html = subscribe("'update' a intent='editing'", {"a": Article(pk=4)})
    assert '"channels":["presence-article_4"]' in html


# -- model channels ------------------------------------------------------------------------


@pytest.mark.django_db
def test_model_channels_are_private_while_objects_are_presence():
    assert '"channels":["private-article"]' in subscribe("'created' model='testapp.Article'")


@pytest.mark.django_db
def test_intent_on_a_model_channel_needs_presence_said_twice():
    assert error_of("'created' model='testapp.Article' intent='viewing'", {}) == (
        "pusherable_subscribe: intent='viewing' needs a presence channel, but model channels "
        "are private-article: pass channel_type='presence' and set the sending views' "
        "pusher_model_channel_type = 'presence' (or PUSHERABLE_MODEL_CHANNEL_TYPE), or drop "
        "intent=."
    )
    html = subscribe("'created' model='testapp.Article' intent='viewing' channel_type='presence'")
    assert '"channels":["presence-article"]' in html
    with override_settings(PUSHERABLE_MODEL_CHANNEL_TYPE="presence"):
        html = subscribe("'created' model='testapp.Article' intent='viewing'")
    assert '"channels":["presence-article"]' in html


# -- the authorization endpoint ----------------------------------------------------------


@pytest.mark.parametrize("channel_type", ["presence", "private"])
@pytest.mark.urls("tests.urls_without_pusherable")
def test_guarded_channels_without_pusherable_urls(channel_type, rf):
    with (
        override_settings(PUSHERABLE_CHANNEL_TYPE=channel_type),
        pytest.raises(TemplateSyntaxError) as error,
    ):
        subscribe("'update' a", {"a": Article(pk=2)}, request=rf.get("/"))
    assert str(error.value) == (
        f"pusherable_subscribe: {channel_type}-article_2 is a {channel_type} channel, which "
        "browsers join only once pusherable.urls authorizes them, and pusherable.urls is not "
        'in the URLconf: add path("pusherable/", include("pusherable.urls")) to your urls.py, '
        "or use public channels (PUSHERABLE_CHANNEL_TYPE = 'public')."
    )


@pytest.mark.urls("tests.urls_without_pusherable")
def test_public_channels_need_no_pusherable_urls(rf):
    html = subscribe("'update' a channel_type='public'", {"a": Article(pk=2)}, request=rf.get("/"))
    assert '"channels":["article_2"]' in html


# -- the admin -----------------------------------------------------------------------------


@pytest.mark.parametrize("channel_type", ["presence", "private", "public"])
@pytest.mark.urls("tests.guard_urls")
@pytest.mark.usefixtures("empty_cache")
def test_the_admin_change_form_listens_where_the_admin_sends(
    client, django_user_model, article, channel_type
):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    with override_settings(PUSHERABLE_CHANNEL_TYPE=channel_type):
        response = client.get(reverse("admin:testapp_article_change", args=[article.pk]))
    assert response.status_code == 200
    subscribed = {
        channel
        for text in SUBSCRIPTION_RE.findall(response.content.decode())
        for channel in json.loads(text)["channels"]
    }
    # Presence for who is here, whatever the type the events go on.
    assert subscribed == {channel_for(article, "presence"), channel_for(article, channel_type)}
