"""Presence end to end: Django, the bundled server, real pusher-js in Chromium.

Each test opens pages of one article (``tests/e2e/views.py``) as different users
and reads what each page's ``pusherable_notify`` received.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Permission

from tests.e2e.conftest import GRACE_PERIOD, Site
from tests.e2e.harness import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]


def member_ids(members: list[dict]) -> list[str]:
    return sorted(member["id"] for member in members)


def test_two_permitted_users_see_each_other(site: Site) -> None:
    alice_id, bob_id = site.member_id("alice"), site.member_id("bob")
    bob = site.login("bob").open(site.path())
    [here] = bob.wait_for("pusherable:here")
    assert here == {
        "channel": site.channel,
        "members": [],
        "me": {"id": bob_id, "info": {"id": bob_id, "name": "Bob", "intent": "viewing"}},
    }

    alice = site.login("alice").open(site.path())
    [alice_here] = alice.wait_for("pusherable:here")
    assert alice_here["members"] == [
        {"id": bob_id, "info": {"id": bob_id, "name": "Bob", "intent": "viewing"}}
    ]
    assert alice_here["me"]["id"] == alice_id
    [joined] = bob.wait_for("pusherable:joined", member__id=alice_id)
    assert joined == {
        "channel": site.channel,
        "member": {"id": alice_id, "info": {"id": alice_id, "name": "Alice", "intent": "viewing"}},
    }
    assert member_ids(bob.js("(ch) => pusherable.members(ch)", site.channel)) == [alice_id]

    alice.close()
    # Sent once the grace period is over and Alice did not come back.
    [left] = bob.wait_for("pusherable:left", member__id=alice_id)
    assert left["member"]["info"]["name"] == "Alice"
    assert bob.js("(ch) => pusherable.members(ch)", site.channel) == []
    # Bob never saw himself come or go.
    assert [e["member"]["id"] for e in bob.events("pusherable:joined")] == [alice_id]
    assert [e["member"]["id"] for e in bob.events("pusherable:left")] == [alice_id]


def test_user_without_permission_is_refused_and_receives_nothing(site: Site) -> None:
    alice = site.login("alice").open(site.path())
    alice.wait_for("pusherable:here")

    # The page itself renders for Eve (it checks nothing); the channel refuses her.
    eve = site.login("eve").open(site.path())
    [error] = eve.wait_for("pusherable:error")
    assert error == {
        "channel": site.channel,
        "reason": "forbidden",
        "status": 403,
        "message": "You may not view this article.",
        "source": "subscribe",
    }

    site.trigger("updated", {"secret": "for permitted eyes"})
    alice.wait_for("updated", secret="for permitted eyes")
    site.barrier(alice, eve)
    # Nothing but the connection's own news and the barrier.
    received = [e["event"] for e in eve.events() if e["event"] != "pusherable:state"]
    # (The refusal and the barrier channel's subscription come in either order.)
    assert sorted(received) == ["barrier", "pusherable:error", "pusherable:subscribed"], received
    assert alice.events("pusherable:joined") == []
    client = site.pusher.pusher_client()
    info = client.channel_info(site.channel, ["user_count", "subscription_count"])
    assert info == {"occupied": True, "user_count": 1, "subscription_count": 1}


def test_two_tabs_of_one_user_count_once(site: Site) -> None:
    alice_id = site.member_id("alice")
    carol = site.login("carol").open(site.path())
    carol.wait_for("pusherable:here")

    alice = site.login("alice")
    first = alice.open(site.path())
    first.wait_for("pusherable:here")
    carol.wait_for("pusherable:joined", member__id=alice_id)
    second = alice.open(site.path())
    [second_here] = second.wait_for("pusherable:here")
    # Her other tab is not "someone else here".
    assert member_ids(second_here["members"]) == [site.member_id("carol")]
    site.barrier(carol)
    assert len(carol.events("pusherable:joined")) == 1

    client = site.pusher.pusher_client()

    def subscriptions() -> int:
        return client.channel_info(site.channel, ["subscription_count"])["subscription_count"]

    first.close()
    wait_until(lambda: subscriptions() == 2, message="the server never saw the first tab go")
    # Give a (wrong) leave timer the time to fire before looking.
    time.sleep(GRACE_PERIOD * 3)
    site.barrier(carol)
    assert carol.events("pusherable:left") == []
    assert member_ids(carol.js("(ch) => pusherable.members(ch)", site.channel)) == [alice_id]

    second.close()
    carol.wait_for("pusherable:left", member__id=alice_id)
    assert len(carol.events("pusherable:joined")) == 1
    assert len(carol.events("pusherable:left")) == 1


def test_reload_does_not_show_leave_and_join(site: Site, settings) -> None:
    # Long enough for a reload on a busy machine; nothing below waits for it.
    settings.PUSHERABLE_PRESENCE_GRACE_PERIOD = 10
    alice_id = site.member_id("alice")
    bob = site.login("bob").open(site.path())
    bob.wait_for("pusherable:here")
    alice = site.login("alice").open(site.path())
    alice.wait_for("pusherable:here")
    bob.wait_for("pusherable:joined", member__id=alice_id)
    first_socket = alice.socket_id()

    alice.reload()
    [here] = alice.wait_for("pusherable:here")  # the new page has joined again
    assert alice.socket_id() != first_socket
    assert member_ids(here["members"]) == [site.member_id("bob")]
    # Whatever the server told Bob about the reload is before this barrier; the new
    # page's arrival cancels the pending leave, so nothing can follow it either.
    site.barrier(bob)
    assert len(bob.events("pusherable:joined", member__id=alice_id)) == 1
    assert bob.events("pusherable:left") == []
    assert member_ids(bob.js("(ch) => pusherable.members(ch)", site.channel)) == [alice_id]


def test_intent_declared_by_the_page_and_changed_live(site: Site) -> None:
    alice_id, bob_id = site.member_id("alice"), site.member_id("bob")
    bob = site.login("bob").open(site.path())
    bob.wait_for("pusherable:here")

    # Alice opens the edit page, which declares `editing` with its subscription.
    alice = site.login("alice").open(site.path("e2e-article-edit"))
    [here] = alice.wait_for("pusherable:here")
    assert here["me"]["info"]["intent"] == "editing"
    assert here["members"] == [
        {"id": bob_id, "info": {"id": bob_id, "name": "Bob", "intent": "viewing"}}
    ]
    [joined] = bob.wait_for("pusherable:joined", member__id=alice_id)
    assert joined["member"]["info"] == {"id": alice_id, "name": "Alice", "intent": "editing"}

    # Changed live through the intent endpoint, seen by the other user only.
    answer = alice.js("([ch, i]) => pusherable.setIntent(ch, i)", [site.channel, "viewing"])
    assert answer == {"ok": True}
    [changed] = bob.wait_for("pusherable:intent", member__id=alice_id)
    assert changed["intent"] == "viewing"
    assert changed["member"] == {
        "id": alice_id,
        "info": {"id": alice_id, "name": "Alice", "intent": "viewing"},
    }
    assert bob.js("(ch) => pusherable.members(ch)", site.channel)[0]["info"]["intent"] == (
        "viewing"
    )

    bob.js("([ch, i]) => pusherable.setIntent(ch, i)", [site.channel, "editing"])
    [changed] = alice.wait_for("pusherable:intent", member__id=bob_id)
    assert changed["intent"] == "editing"
    site.barrier(alice, bob)
    # Nobody hears about their own intent.
    assert [e["member"]["id"] for e in alice.events("pusherable:intent")] == [bob_id]
    assert [e["member"]["id"] for e in bob.events("pusherable:intent")] == [alice_id]


def test_intent_the_user_may_not_have_is_refused(site: Site) -> None:
    view_only = Permission.objects.filter(
        content_type__app_label="testapp", codename="view_article"
    )
    site.users["eve"].user_permissions.set(view_only)
    eve = site.login("eve").open(site.path())
    eve.wait_for("pusherable:here")  # viewing is allowed with the view permission
    eve.js(
        "([ch, i]) => pusherable.setIntent(ch, i).catch((error) => null)",
        [site.channel, "editing"],
    )
    [error] = eve.wait_for("pusherable:error", source="intent")
    assert error["status"] == 403
    assert error["reason"] == "forbidden"


def test_saving_tab_does_not_receive_its_own_update(site: Site) -> None:
    alice = site.login("alice").open(site.path())
    bob = site.login("bob").open(site.path())
    alice.wait_for("pusherable:here")
    bob.wait_for("pusherable:here")

    # pusherable.js put the page's socket id in the form, for the mixin to pass on.
    field = "input[name=pusherable_socket_id]"
    assert alice.js(f"() => document.querySelector('{field}').value") == alice.socket_id()

    alice.save_title("Alice's title")
    [updated] = bob.wait_for("updated", changed__title="Alice's title")
    assert updated["user"] == "alice"
    assert updated["object"]["title"] == "Alice's title"
    site.barrier(alice)
    assert alice.events("updated") == []

    # Bob's form is stale now (the collision guard would refuse it): he reloads, saves,
    # and Alice's tab, which did not hear its own save, hears his.
    bob.reload()
    bob.wait_for("pusherable:here")
    bob.save_title("Bob's title")
    [updated] = alice.wait_for("updated", changed__title="Bob's title")
    assert updated["user"] == "bob"
    site.barrier(bob)
    assert bob.events("updated") == []
    site.article.refresh_from_db()
    assert site.article.title == "Bob's title"
