"""The intent endpoint: authorized like the channel, then a server-signed event."""

import pytest
from django.test import override_settings

from pusherable import presence
from pusherable.channels import channel_for
from pusherable.events import Event
from pusherable.testing import outbox
from pusherable.views import INTENT_EVENT
from tests.authz import OBJECT_BACKENDS, client_for, make_world, post_form

SOCKET_ID = "42.17"
INTENT_URL = "/pusherable/intent/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def object_permissions(empty_cache):
    with override_settings(AUTHENTICATION_BACKENDS=OBJECT_BACKENDS):
        yield


@pytest.fixture
def world():
    return make_world()


def declare(user, channel, intent, socket_id=SOCKET_ID):
    data = {"socket_id": socket_id, "channel_name": channel, "intent": intent}
    return post_form(client_for(user), INTENT_URL, data)


def test_intent_triggers_an_event_without_the_sender(world):
    editor = world.users["editor"]
    channel = channel_for(world.article, "presence")
    response = declare(editor, channel, "editing")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert outbox == [
        Event([channel], INTENT_EVENT, {"user_id": str(editor.pk), "intent": "editing"}, SOCKET_ID)
    ]


def test_intent_is_remembered_for_who_is_here(world):
    viewer = world.users["viewer"]
    channel = channel_for(world.article, "presence")
    presence.track_member_added(channel, str(viewer.pk))
    assert declare(viewer, channel, "viewing").status_code == 200
    [member] = presence.who_is_here(world.article, source="webhooks")
    assert member.intent == "viewing"
    assert member.info == {"id": str(viewer.pk), "name": "Viewer Example", "intent": "viewing"}


def test_editing_needs_the_change_permission(world):
    response = declare(world.users["viewer"], channel_for(world.article, "presence"), "editing")
    assert response.status_code == 403
    assert outbox == []


def test_author_may_edit_through_the_object_backend(world):
    channel = channel_for(world.article, "presence")
    assert declare(world.users["author"], channel, "editing").status_code == 200


@pytest.mark.parametrize(
    ("intent", "status"), [(None, 400), ("", 400), ("spying", 400), ("viewing", 200)]
)
def test_intent_must_be_one_of_the_allowed(world, intent, status):
    response = declare(world.users["admin"], channel_for(world.article, "presence"), intent)
    assert response.status_code == status
    assert len(outbox) == (status == 200)


@override_settings(PUSHERABLE_INTENTS=("viewing", "editing", "reviewing"))
def test_allowed_intents_are_configurable(world):
    response = declare(world.users["admin"], channel_for(world.article, "presence"), "reviewing")
    assert response.status_code == 200
    assert outbox[0].data["intent"] == "reviewing"


def test_private_channels_have_no_members_to_tell(world):
    response = declare(world.users["admin"], channel_for(world.article, "private"), "editing")
    assert response.status_code == 400
    assert response.json() == {"error": "Intents are declared on presence channels only."}


@pytest.mark.parametrize("name", ["anonymous", "plain", "inactive"])
def test_refused_users_trigger_nothing(world, name):
    response = declare(world.users[name], channel_for(world.article, "presence"), "viewing")
    assert response.status_code == 403
    assert outbox == []


def test_malformed_socket_id(world):
    channel = channel_for(world.article, "presence")
    response = declare(world.users["admin"], channel, "viewing", socket_id="x")
    assert response.status_code == 400
    assert outbox == []


@override_settings(PUSHERABLE_INTENT_RATE_LIMIT=(2, 60))
def test_rate_limit(world):
    admin = world.users["admin"]
    channel = channel_for(world.article, "presence")
    assert declare(admin, channel, "editing").status_code == 200
    assert declare(admin, channel, "viewing").status_code == 200
    response = declare(admin, channel, "editing")
    assert response.status_code == 429
    assert response.json() == {"error": "Too many intent changes; slow down."}
    assert len(outbox) == 2
    # Another user, or the same user elsewhere, is counted apart.
    assert declare(world.users["editor"], channel, "editing").status_code == 200
    other = channel_for(world.other_article, "presence")
    assert declare(admin, other, "editing").status_code == 200


@override_settings(PUSHERABLE_INTENT_RATE_LIMIT=None)
def test_rate_limit_can_be_disabled(world):
    channel = channel_for(world.article, "presence")
    for _ in range(5):
        assert declare(world.users["admin"], channel, "editing").status_code == 200
