"""The edit lock's state changes and refusals (pusherable.locks), and its endpoint."""

from unittest import mock

import pytest
from django.test import override_settings

from pusherable import locks, presence, webhooks
from pusherable.channels import channel_for
from pusherable.signals import member_added, member_removed
from pusherable.testing import outbox
from tests.authz import client_for, grant, make_world, post_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

SOCKET_ID = "7.11"
LOCK_URL = "/pusherable/lock/"


@pytest.fixture
def world():
    world = make_world()
    grant(world.users["viewer"], "change_article")  # a second editor
    return world


@pytest.fixture
def channel(world):
    return channel_for(world.article, "presence")


@pytest.fixture
def clock():
    """time.time() of pusherable.locks, moved by hand."""
    now = [1_000_000.0]
    with mock.patch("pusherable.locks.time.time", side_effect=lambda: now[0]):
        yield now


def lock_events():
    return [(event.name, event.data) for event in outbox if event.name.startswith("pusherable:")]


def holder(lock):
    return None if lock is None else lock.holder_id


def test_first_editor_acquires_and_the_others_see_the_holder(world, channel):
    editor, viewer = world.users["editor"], world.users["viewer"]
    lock = locks.acquire(channel, editor)
    assert holder(lock) == str(editor.pk) and lock.holder_name == "Editor Example"
    assert holder(locks.acquire(channel, viewer)) == str(editor.pk)
    assert locks.holds_lock(channel, editor) and not locks.holds_lock(channel, viewer)
    assert lock_events() == [
        (
            locks.LOCK_EVENT,
            {
                "holder": {"id": str(editor.pk), "name": "Editor Example"},
                "previous": None,
                "reason": "acquired",
                "at": mock.ANY,
            },
        )
    ]


def test_holding_renews_the_lease_and_sends_nothing(world, channel, clock):
    editor = world.users["editor"]
    first = locks.acquire(channel, editor, lease=30)
    outbox.clear()
    clock[0] += 20
    assert locks.renew(channel, editor).expires == clock[0] + 30
    clock[0] += 20  # past the first lease, within the renewed one
    again = locks.acquire(channel, editor, lease=30)
    assert holder(again) == str(editor.pk) and again.expires > first.expires
    assert outbox == []


def test_the_lease_ends_by_itself(world, channel, clock):
    editor, viewer = world.users["editor"], world.users["viewer"]
    locks.acquire(channel, editor, lease=30)
    clock[0] += 31
    assert locks.get_lock(channel) is None
    assert locks.renew(channel, editor) is None  # a page that slept lost it
    assert holder(locks.acquire(channel, viewer)) == str(viewer.pk)


def test_ask_notifies_the_holder_who_hands_over(world, channel):
    editor, viewer = world.users["editor"], world.users["viewer"]
    locks.acquire(channel, editor)
    outbox.clear()
    asked = locks.ask(channel, viewer, socket_id=SOCKET_ID)
    assert asked.as_json(str(editor.pk))["asks"] == [
        {"id": str(viewer.pk), "name": "Viewer Example"}
    ]
    assert asked.as_json(str(viewer.pk))["asks"] == []  # only the holder sees who asked
    [event] = outbox
    assert (event.name, event.socket_id) == (locks.LOCK_ASK_EVENT, SOCKET_ID)
    assert event.data == {
        "user": {"id": str(viewer.pk), "name": "Viewer Example"},
        "holder_id": str(editor.pk),
    }
    outbox.clear()
    lock = locks.hand_over(channel, editor, str(viewer.pk))
    assert holder(lock) == str(viewer.pk) and lock.asks == {}
    assert lock_events() == [
        (
            locks.LOCK_EVENT,
            {
                "holder": {"id": str(viewer.pk), "name": "Viewer Example"},
                "previous": {"id": str(editor.pk), "name": "Editor Example"},
                "reason": "handover",
                "at": mock.ANY,
            },
        )
    ]


def test_hand_over_only_by_the_holder_and_to_who_asked(world, channel):
    editor, viewer, admin = (world.users[name] for name in ("editor", "viewer", "admin"))
    locks.acquire(channel, editor)
    with pytest.raises(locks.LockRefused) as refused:
        locks.hand_over(channel, editor, str(viewer.pk))  # viewer never asked
    assert refused.value.status == 400
    locks.ask(channel, viewer)
    with pytest.raises(locks.LockRefused) as refused:
        locks.hand_over(channel, admin, str(viewer.pk))  # admin does not hold it
    assert refused.value.status == 409
    assert holder(locks.get_lock(channel)) == str(editor.pk)


def test_ask_needs_a_lock_held_by_someone_else(world, channel):
    editor = world.users["editor"]
    with pytest.raises(locks.LockRefused):
        locks.ask(channel, editor)
    locks.acquire(channel, editor)
    with pytest.raises(locks.LockRefused):
        locks.ask(channel, editor)


def test_take_over_needs_the_lock_permission(world, channel):
    editor, viewer, admin = (world.users[name] for name in ("editor", "viewer", "admin"))
    locks.acquire(channel, editor, takeover_permission="testapp.delete_article")
    with pytest.raises(locks.AuthorizationError) as refused:
        locks.take_over(channel, viewer, world.article)
    assert refused.value.status == 403
    assert holder(locks.get_lock(channel)) == str(editor.pk)
    outbox.clear()
    lock = locks.take_over(channel, admin, world.article)  # a superuser has every permission
    assert holder(lock) == str(admin.pk)
    assert lock_events()[0][1]["reason"] == "takeover"


def test_without_a_take_over_permission_nobody_takes_over(world, channel):
    locks.acquire(channel, world.users["editor"])
    with pytest.raises(locks.AuthorizationError):
        locks.take_over(channel, world.users["admin"], world.article)


def test_release_frees_the_lock_for_the_next_editor(world, channel):
    editor, viewer = world.users["editor"], world.users["viewer"]
    locks.acquire(channel, editor)
    with pytest.raises(locks.LockRefused):
        locks.release(channel, viewer)
    outbox.clear()
    locks.release(channel, editor)
    assert locks.get_lock(channel) is None
    assert lock_events()[0][1]["reason"] == "released"
    assert holder(locks.acquire(channel, viewer)) == str(viewer.pk)


def test_holder_leaving_ends_the_lock_after_the_grace_period(world, channel, clock, settings):
    settings.PUSHERABLE_PRESENCE_GRACE_PERIOD = 3.0
    editor, viewer = world.users["editor"], world.users["viewer"]
    locks.acquire(channel, editor, lease=60)
    member_removed.send(sender=None, channel=channel, user_id=str(viewer.pk))  # not the holder
    assert locks.get_lock(channel).expires == clock[0] + 60
    member_removed.send(sender=None, channel=channel, user_id=str(editor.pk))
    clock[0] += 2
    assert locks.holds_lock(channel, editor)  # a reload within the grace keeps it
    clock[0] += 2
    assert locks.get_lock(channel) is None
    assert holder(locks.acquire(channel, viewer)) == str(viewer.pk)


def test_holder_back_within_the_grace_period_keeps_the_full_lease(world, channel, clock):
    editor = world.users["editor"]
    locks.acquire(channel, editor, lease=60)
    member_removed.send(sender=None, channel=channel, user_id=str(editor.pk))
    member_added.send(sender=None, channel=channel, user_id=str(editor.pk))
    clock[0] += 30
    assert locks.holds_lock(channel, editor)


def test_a_reloads_webhooks_in_the_wrong_order_keep_the_lease(world, channel, clock, settings):
    """soketi posts webhooks concurrently: a reload's member_removed may come last."""
    settings.PUSHERABLE_PRESENCE_GRACE_PERIOD = 2
    editor = world.users["editor"]
    locks.acquire(channel, editor, lease=60)
    user_id = str(editor.pk)
    now_ms = int(clock[0] * 1000)
    webhooks.dispatch_event(
        {"name": "member_added", "channel": channel, "user_id": user_id}, time_ms=now_ms + 20
    )
    webhooks.dispatch_event(
        {"name": "member_removed", "channel": channel, "user_id": user_id}, time_ms=now_ms + 10
    )
    clock[0] += 30
    assert locks.holds_lock(channel, editor)


def test_a_holder_gone_from_presence_loses_the_lock_to_a_newcomer(world, channel, clock):
    """Without webhooks: the presence API says the holder's tabs are all gone."""
    editor, viewer = world.users["editor"], world.users["viewer"]
    locks.acquire(channel, editor, lease=60)
    clock[0] += 1
    with mock.patch.object(locks, "holder_present", return_value=False) as present:
        # Just acquired: the holder's page may not have joined yet.
        assert holder(locks.acquire(channel, viewer)) == str(editor.pk)
        present.assert_not_called()
        clock[0] += 10
        outbox.clear()
        assert holder(locks.acquire(channel, viewer)) == str(viewer.pk)
    assert lock_events()[0][1]["reason"] == "abandoned"


@pytest.mark.parametrize("present", [True, None])
def test_a_present_or_unknown_holder_keeps_the_lock(world, channel, clock, present):
    editor, viewer = world.users["editor"], world.users["viewer"]
    locks.acquire(channel, editor, lease=60)
    clock[0] += 10
    with mock.patch.object(locks, "holder_present", return_value=present):
        assert holder(locks.acquire(channel, viewer)) == str(editor.pk)


@override_settings(PUSHERABLE_PRESENCE_SOURCE="webhooks")
def test_holder_presence_from_webhooks(world, channel):
    editor = world.users["editor"]
    assert locks.holder_present(channel, str(editor.pk)) is False
    presence.track_member_added(channel, str(editor.pk))
    assert locks.holder_present(channel, str(editor.pk)) is True


def test_holder_presence_is_unknown_when_the_api_fails(world, channel, settings):
    settings.PUSHERABLE_PRESENCE_SOURCE = "api"
    with mock.patch("pusherable.pusher_client.get_client", side_effect=RuntimeError("down")):
        assert locks.holder_present(channel, "1") is None


def test_a_busy_mutex_refuses_rather_than_waits_forever(world, channel):
    from django.core.cache import cache

    cache.add(f"pusherable:lock-mutex:{channel}", "someone", timeout=5)
    with (
        mock.patch.object(locks, "_MUTEX_WAIT", 0.05),
        pytest.raises(locks.LockBusy) as busy,
    ):
        locks.acquire(channel, world.users["editor"])
    assert busy.value.status == 503


def test_anonymous_users_never_hold_a_lock(channel):
    from django.contrib.auth.models import AnonymousUser

    assert locks.acquire(channel, AnonymousUser()) is None
    assert locks.get_lock(channel) is None


# -- the endpoint ------------------------------------------------------------------------


def act(user, channel, action, **fields):
    data = {"channel_name": channel, "action": action, "socket_id": SOCKET_ID, **fields}
    return post_form(client_for(user), LOCK_URL, data)


def test_endpoint_ask_hand_over_renew(world, channel):
    editor, viewer = world.users["editor"], world.users["viewer"]
    locks.acquire(channel, editor)
    answer = act(viewer, channel, "ask")
    assert answer.status_code == 200
    assert answer.json()["lock"]["mine"] is False
    assert act(editor, channel, "renew").json()["lock"]["asks"] == [
        {"id": str(viewer.pk), "name": "Viewer Example"}
    ]
    handed = act(editor, channel, "handover", to=str(viewer.pk))
    assert handed.status_code == 200
    assert handed.json()["lock"]["holder"]["id"] == str(viewer.pk)
    assert act(viewer, channel, "renew").json()["lock"]["mine"] is True
    assert act(editor, channel, "renew").json()["lock"]["mine"] is False


@pytest.mark.parametrize(
    ("user", "action", "status"),
    [
        ("editor", "take", 403),  # no take-over permission
        ("plain", "ask", 403),  # may not edit the article at all
        ("viewer", "handover", 409),  # does not hold the lock
        ("viewer", "explode", 400),
    ],
)
def test_endpoint_refusals(world, channel, user, action, status):
    locks.acquire(channel, world.users["viewer" if user != "viewer" else "author"])
    answer = act(world.users[user], channel, action, to="1")
    assert answer.status_code == status, answer.json()
    assert "error" in answer.json()


def test_endpoint_take_over_with_the_permission(world, channel):
    locks.acquire(channel, world.users["editor"], takeover_permission="testapp.delete_article")
    answer = act(world.users["admin"], channel, "take")
    assert answer.json()["lock"] == {
        "holder": {"id": str(world.users["admin"].pk), "name": "Admin Example"},
        "mine": True,
        "asks": [],
    }


def test_an_answer_is_dated_before_its_read_and_an_event_at_its_change(world, channel, clock):
    """A renewal read just before a take-over must date before the take-over's event:
    pusherable-lock.js drops the older of the two, whichever arrives last."""
    editor, admin = world.users["editor"], world.users["admin"]
    locks.acquire(channel, editor, takeover_permission="testapp.delete_article")
    times = iter([clock[0] + 1, clock[0] + 2])

    def read_then_take(channel_name, user):
        # The renewal's read happens at +1; the take-over lands at +2, before the answer.
        clock[0] = next(times)
        lock = locks.get_lock(channel_name)
        clock[0] = next(times)
        outbox.clear()
        locks.take_over(channel_name, admin, world.article)
        return lock

    with mock.patch("pusherable.locks.renew", side_effect=read_then_take):
        answer = act(editor, channel, "renew").json()
    [(_, event)] = lock_events()
    assert answer["lock"]["holder"]["id"] == str(editor.pk)  # what the renewal read
    assert event["holder"]["id"] == str(admin.pk)
    assert answer["at"] < event["at"] == clock[0]


def test_every_lock_event_and_answer_is_dated(world, channel, clock):
    editor, viewer = world.users["editor"], world.users["viewer"]
    answer = act(viewer, channel, "renew").json()
    assert answer == {"ok": True, "lock": None, "at": clock[0]}
    locks.acquire(channel, editor)
    clock[0] += 5
    locks.release(channel, editor)
    assert [data["at"] for _, data in lock_events()] == [clock[0] - 5, clock[0]]


def test_endpoint_refuses_other_channel_types(world):
    private = channel_for(world.article, "private")
    assert act(world.users["editor"], private, "renew").status_code == 400
