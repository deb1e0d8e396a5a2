"""Webhooks from the Pusher server to Django signals, and who is here on the server.

The server posts signed webhooks to the live Django server's ``pusherable:webhook``
URL; the signals are recorded in this process (:class:`~tests.e2e.harness.SignalRecorder`).
The bundled server sends one channel's webhooks in order; soketi sends each as
its own concurrent request, so they may arrive in another order, and presence
must come out the same.
"""

from __future__ import annotations

import pytest

from pusherable.presence import tracked_member_ids, who_is_here
from tests.e2e.conftest import Site
from tests.e2e.harness import wait_until
from tests.testapp.models import Article

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]


def test_webhooks_arrive_as_signals(site: Site) -> None:
    alice_id, bob_id = site.member_id("alice"), site.member_id("bob")
    expected = [
        ("channel_occupied", None),
        ("member_added", alice_id),
        ("member_added", bob_id),
        ("member_removed", bob_id),
        ("member_removed", alice_id),
        ("channel_vacated", None),
    ]

    def arrived(count: int) -> None:
        # By kind: a soketi cluster may say a thing twice (two tabs closing at
        # once on one node each check the other node and both report the leave).
        wait_until(
            lambda: set(expected[:count]) <= set(site.signals.on(site.channel)),
            timeout=15,
            message=f"{expected[:count]}; got {site.signals.on(site.channel)}",
        )

    alice = site.login("alice").open(site.path())
    alice.wait_for("pusherable:here")
    bob = site.login("bob")
    first = bob.open(site.path())
    second = bob.open(site.path())  # a second tab adds no member
    second.wait_for("pusherable:here")
    arrived(3)
    assert tracked_member_ids(site.channel) == [alice_id, bob_id]

    second.close()
    first.close()
    arrived(4)
    assert tracked_member_ids(site.channel) == [alice_id]
    alice.close()
    arrived(6)
    received = site.signals.wait_for(site.channel, 6)

    if site.pusher.name == "bundled":
        assert site.signals.on(site.channel) == expected
    else:
        # Each step above waited for the one before, except the pairs soketi sends
        # at once: occupied with Alice's arrival, her leaving with the vacated channel.
        order = list(dict.fromkeys(site.signals.on(site.channel)))
        assert set(order[:2]) == set(expected[:2])
        assert order[2:4] == expected[2:4]
        assert set(order[4:]) == set(expected[4:])
    # Whatever the order, nobody is left here.
    assert tracked_member_ids(site.channel) == []
    for item in received:
        assert item.sender is Article
        assert item.kwargs["model"] is Article
        assert item.kwargs["pk"] == str(site.article.pk)
        assert item.kwargs["parsed_channel"].type == "presence"
        assert isinstance(item.kwargs["time_ms"], int)
    # The public barrier channel is reported too, under its own name.
    assert site.signals.on("article")[0] == ("channel_occupied", None)


def test_who_is_here_while_users_are_connected(site: Site) -> None:
    alice_id, bob_id = site.member_id("alice"), site.member_id("bob")
    alice = site.login("alice").open(site.path("e2e-article-edit"))
    alice.wait_for("pusherable:here")
    site.signals.wait_for(site.channel, 2)  # occupied, Alice added

    # Bob's page, rendered on the server before its socket connects, knows she is here.
    bob = site.login("bob").open(site.path())
    assert bob.js("() => document.querySelector('#here').innerText.trim()") == ("Alice is editing")
    bob.wait_for("pusherable:here")
    site.signals.wait_for(site.channel, 3)

    members = who_is_here(site.article)  # from the webhooks
    assert [(m.id, m.user, m.intent) for m in members] == [
        (alice_id, site.users["alice"], "editing"),
        (bob_id, site.users["bob"], "viewing"),
    ]
    assert members[0].info == {"id": alice_id, "name": "Alice", "intent": "editing"}
    assert [m.id for m in who_is_here(site.article, exclude=site.users["alice"])] == [bob_id]
    # The users endpoint of the server's HTTP API agrees.
    from_api = who_is_here(site.article, source="api")
    assert sorted(m.id for m in from_api) == [alice_id, bob_id]

    # An intent changed live is what the server answers from then on.
    alice.js("([ch, i]) => pusherable.setIntent(ch, i)", [site.channel, "viewing"])
    bob.wait_for("pusherable:intent", member__id=alice_id)
    assert [m.intent for m in who_is_here(site.article)] == ["viewing", "viewing"]

    bob.close()
    site.signals.wait_for(site.channel, 4)
    assert [m.id for m in who_is_here(site.article)] == [alice_id]
    wait_until(
        lambda: [m.id for m in who_is_here(site.article, source="api")] == [alice_id],
        message="the users API still lists Bob",
    )
