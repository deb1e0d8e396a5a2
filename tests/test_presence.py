"""Who is here, on the server: from webhooks and from the HTTP API's users endpoint."""

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from pusherable import presence
from pusherable.channels import channel_for
from pusherable.exceptions import PusherableError
from tests.authz import make_world

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


@pytest.fixture
def world():
    return make_world()


class UsersAPI:
    """A stand-in for Pusher's ``GET /apps/<id>/channels/<name>/users`` on loopback."""

    def __init__(self):
        self.answer = {"users": []}
        self.status = 200
        self.delay = 0.0
        self.paths = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                api.paths.append(self.path)
                if api.delay:
                    time.sleep(api.delay)
                body = json.dumps(api.answer).encode()
                try:
                    self.send_response(api.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def users_api():
    with UsersAPI() as api, override_settings(PUSHER_PORT=api.server.server_address[1]):
        yield api


def test_api_members_are_mapped_to_users_in_one_query(world, users_api, django_assert_num_queries):
    viewer, editor = world.users["viewer"], world.users["editor"]
    users_api.answer = {
        "users": [{"id": str(editor.pk)}, {"id": str(viewer.pk)}, {"id": "99999"}, {"id": "x y"}]
    }
    with django_assert_num_queries(1):
        members = presence.who_is_here(world.article, source="api")
    assert [member.user for member in members] == [editor, viewer]
    assert [member.id for member in members] == [str(editor.pk), str(viewer.pk)]
    assert members[0].info == {"id": str(editor.pk), "name": "Editor Example", "intent": "viewing"}
    assert members[0].intent == "viewing"
    [path] = users_api.paths
    assert path.startswith("/apps/123456/channels/presence-article_1/users?")
    assert "auth_signature=" in path


def test_exclude_leaves_out_the_current_user(world, users_api):
    viewer, editor = world.users["viewer"], world.users["editor"]
    users_api.answer = {"users": [{"id": str(editor.pk)}, {"id": str(viewer.pk)}]}
    members = presence.who_is_here(world.article, source="api", exclude=viewer)
    assert [member.user for member in members] == [editor]


def test_channel_name_works_too(world, users_api):
    users_api.answer = {"users": [{"id": world.users["admin"].pk}]}
    [member] = presence.who_is_here("presence-lobby", source="api")
    assert member.user == world.users["admin"]
    # soketi lists numeric ids as numbers; the member id is a string either way.
    assert member.id == str(world.users["admin"].pk)
    assert member.info == {
        "id": str(world.users["admin"].pk),
        "name": "Admin Example",
        "intent": "viewing",
    }


@pytest.mark.parametrize(
    ("status", "answer"),
    [(500, {"error": "boom"}), (200, {"users": "everyone"}), (200, ["not", "a", "dict"])],
)
def test_api_faults_answer_nobody(world, users_api, caplog, status, answer):
    users_api.status, users_api.answer = status, answer
    with caplog.at_level(logging.WARNING, logger="pusherable"):
        assert presence.who_is_here(world.article, source="api") == []
    assert "presence-article_1" in caplog.text


@override_settings(PUSHERABLE_PRESENCE_TIMEOUT=0.2)
def test_api_timeout_answers_nobody(world, users_api, caplog):
    users_api.delay = 1.0
    with caplog.at_level(logging.WARNING, logger="pusherable"):
        assert presence.who_is_here(world.article, source="api") == []
    assert "cannot list the users" in caplog.text


def test_unreachable_api_answers_nobody(world, caplog):
    with override_settings(PUSHER_PORT=9), caplog.at_level(logging.WARNING, logger="pusherable"):
        assert presence.who_is_here(world.article, source="api") == []
    assert "cannot list the users" in caplog.text


def test_webhook_tracking(world):
    channel = channel_for(world.article, "presence")
    viewer, editor = world.users["viewer"], world.users["editor"]
    presence.track_member_added(channel, str(viewer.pk), time_ms=2)
    presence.track_member_added(channel, str(editor.pk), time_ms=1)
    presence.remember_intent(channel, str(editor.pk), "editing")
    members = presence.who_is_here(world.article, source="webhooks")
    assert [(member.user, member.intent) for member in members] == [
        (editor, "editing"),
        (viewer, "viewing"),
    ]
    presence.track_member_removed(channel, str(editor.pk))
    assert [m.user for m in presence.who_is_here(world.article, source="webhooks")] == [viewer]
    presence.forget_channel(channel)
    assert presence.who_is_here(world.article, source="webhooks") == []


def test_deleted_users_are_left_out(world):
    channel = channel_for(world.article, "presence")
    plain = world.users["plain"]
    presence.track_member_added(channel, str(plain.pk))
    plain.delete()
    assert presence.who_is_here(world.article, source="webhooks") == []


def test_auto_uses_the_api_until_webhooks_arrive(world, users_api):
    viewer, editor = world.users["viewer"], world.users["editor"]
    users_api.answer = {"users": [{"id": str(viewer.pk)}]}
    assert [m.user for m in presence.who_is_here(world.article)] == [viewer]
    assert len(users_api.paths) == 1
    presence.track_member_added(channel_for(world.article, "presence"), str(editor.pk))
    assert [m.user for m in presence.who_is_here(world.article)] == [editor]
    assert len(users_api.paths) == 1


@override_settings(PUSHERABLE_PRESENCE_SOURCE="api")
def test_source_setting(world, users_api):
    presence.mark_webhooks_seen()
    presence.who_is_here(world.article)
    assert len(users_api.paths) == 1


def test_unknown_source(world):
    with pytest.raises(PusherableError, match="Unknown presence source"):
        presence.who_is_here(world.article, source="crystal-ball")


@override_settings(PUSHERABLE_PRESENCE_TTL=1)
def test_tracking_expires(world):
    channel = channel_for(world.article, "presence")
    presence.track_member_added(channel, str(world.users["viewer"].pk))
    assert presence.tracked_member_ids(channel) == [str(world.users["viewer"].pk)]
    time.sleep(1.1)
    assert presence.tracked_member_ids(channel) == []
