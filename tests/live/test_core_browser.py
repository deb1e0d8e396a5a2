"""pusherable.js's core and presence against the real things, in Chromium.

Real pusher-js (from npm), each selected Pusher target (the bundled server with
``--pusher-target=bundled``), Django's own authorization endpoints, and the page of
:mod:`tests.core_urls`, rendered by the README's tags. The events come through the
server's HTTP API (the ``pusher`` library). A loopback :class:`Relay` between a page
and the server cuts the page's connection, as a network drop does.

What needs a fake (a clock, a server that answers in a given order) stays in
``tests/js/``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pusherable.conf import DEFAULTS
from tests.targets import node_script

from .conftest import LIVE_TIMEOUT_MS, PUSHER_JS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRESENCE = "presence-article_{pk}"
PRIVATE = "private-article_{pk}"


class Relay:
    """A TCP relay on 127.0.0.1 to the server's WebSocket port; :meth:`cut` drops the
    connections through it (the server and the page see them close), and while
    :attr:`blocked` it closes new ones at once."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.blocked = False
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.blocked:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            connections, self.connections = self.connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture
def site(live_site, settings):
    settings.ROOT_URLCONF = "tests.core_urls"
    return live_site


@pytest.fixture
def article(site, users):
    from tests.testapp.models import Article

    return Article.objects.create(title="Hello", body="Body")


@pytest.fixture
def carol(users, django_user_model):
    """A user with no permission on articles: her subscriptions are refused."""
    return django_user_model.objects.create_user("carol", password="pw")


@pytest.fixture
def relays(pusher_server) -> Iterator[Callable[[], Relay]]:
    made: list[Relay] = []

    def make() -> Relay:
        made.append(Relay(pusher_server.ws_port(len(made))))
        return made[-1]

    yield make
    for relay in made:
        relay.close()


@pytest.fixture
def visit(browser, site, users, pusher_server) -> Iterator[Callable[..., Any]]:
    """``visit("alice", article)``: the core page, in a new browser context signed in as
    that user; ``relay=`` connects it through a :class:`Relay`."""
    contexts = []
    script = PUSHER_JS.read_text()

    def open_page(username: str, article: Any, *, relay: Relay | None = None, query: str = ""):
        context = browser.new_context(base_url=site.url)
        contexts.append(context)
        port = relay.port if relay else pusher_server.ws_port(len(contexts) - 1)
        context.add_init_script(node_script(port))
        context.route(
            DEFAULTS["PUSHERABLE_PUSHER_JS_URL"],
            lambda route: route.fulfill(body=script, content_type="application/javascript"),
        )
        page = context.new_page()
        page.set_default_timeout(LIVE_TIMEOUT_MS)
        page.goto(f"/core/login/{username}/")
        page.goto(f"/core/{article.pk}/{query}")
        return page

    yield open_page
    for context in contexts:
        context.close()


def notifications(page, event: str | None = None) -> list[dict[str, Any]]:
    return page.evaluate(
        "(name) => window.notifications.filter((n) => name === null || n.event === name)", event
    )


def wait_for(page, event: str, count: int = 1, **data: Any) -> list[dict[str, Any]]:
    """Wait until ``pusherable_notify`` got ``count`` ``event`` whose data has ``data``."""
    page.wait_for_function(
        """([name, count, data]) => window.notifications.filter((n) => n.event === name
             && Object.entries(data).every(
                  ([k, v]) => JSON.stringify(n.data[k]) === JSON.stringify(v))
           ).length >= count""",
        arg=[event, count, data],
        timeout=LIVE_TIMEOUT_MS,
    )
    return notifications(page, event)


def subscribed(page, *channels: str, count: int = 1) -> None:
    """Wait for the ``pusherable:subscribed`` DOM events (whichever callback they went to)."""
    for channel in channels:
        page.wait_for_function(
            """([channel, count]) => window.domEvents.filter((d) =>
                 d.event === 'pusherable:subscribed' && d.channel === channel).length >= count""",
            arg=[channel, count],
            timeout=LIVE_TIMEOUT_MS,
        )


def member_ids(page, event: str) -> list[str]:
    return [n["data"]["member"]["id"] for n in notifications(page, event)]


def test_one_connection_for_every_subscription_and_events_to_each_handler(
    visit, article, pusher_server
):
    presence, private = PRESENCE.format(pk=article.pk), PRIVATE.format(pk=article.pk)
    page = visit("alice", article)
    subscribed(page, presence, private)
    # Four tags, two channels, one pusher-js connection.
    assert page.evaluate("Pusher.instances.length") == 1
    assert page.evaluate("pusherable.pusher === Pusher.instances[0]")
    client = pusher_server.pusher_client()
    for channel in (presence, private):
        info = client.channel_info(channel, ["subscription_count"])
        assert info["subscription_count"] == 1, (channel, info)

    client.trigger(presence, "update", {"n": 1})
    client.trigger(presence, "updated", {"n": 2})
    client.trigger(presence, "created", {"n": 3})  # nobody on the presence channel asked
    client.trigger(private, "something-custom", {"n": 4})
    client.trigger(private, "update", {"n": 5})
    wait_for(page, "update", n=5)

    delivered = [
        (n["event"], n["data"].get("n"), n["channel"])
        for n in notifications(page)
        if not n["event"].startswith("pusherable:")
    ]
    # The tag rendered twice delivers once; '*' has every event of its channel.
    assert delivered == [
        ("update", 1, presence),
        ("updated", 2, presence),
        ("something-custom", 4, private),
        ("update", 5, private),
    ]
    # A subscription that names its callback gets its events only (and the library's).
    seen = page.evaluate("window.app.seen.filter((s) => !s.event.startsWith('pusherable:'))")
    assert seen == [{"event": "updated", "channel": presence}]
    # Every notification is a DOM event too, once.
    dom = page.evaluate("window.domEvents.filter((d) => !d.event.startsWith('pusherable:'))")
    assert [(d["event"], d["channel"]) for d in dom] == [
        ("update", presence),
        ("updated", presence),
        ("something-custom", private),
        ("update", private),
    ]
    # The protocol's own events never reach a '*' subscription.
    assert not [n for n in notifications(page) if n["event"].startswith("pusher:")]


def test_states_socket_id_and_forms(visit, article):
    page = visit("alice", article)
    subscribed(page, PRESENCE.format(pk=article.pk))
    states = [
        (n["data"]["previous"], n["data"]["current"])
        for n in notifications(page, "pusherable:state")
    ]
    # pusher-js starts connecting in its constructor: the page hears it connected.
    assert states[-1] == ("connecting", "connected")
    socket_id = page.evaluate("pusherable.socketId()")
    assert socket_id == page.evaluate("pusherable.pusher.connection.socket_id")
    assert notifications(page, "pusherable:state")[-1]["data"]["socketId"] == socket_id
    assert page.evaluate("pusherable.headers({a: '1'})") == {"a": "1", "X-Socket-ID": socket_id}
    # Sender exclusion: the same-origin POST form carries the socket id; GET forms,
    # forms to other sites and forms that opt out do not.
    assert page.input_value("#save input[name=pusherable_socket_id]") == socket_id
    for form in ("search", "elsewhere", "ignored"):
        assert page.locator(f"#{form} input[name=pusherable_socket_id]").count() == 0, form
    # Submitting refreshes it (a socket id that changed, a form no observer saw).
    page.evaluate(
        """() => { const form = document.getElementById('save');
                   form.querySelector('[name=pusherable_socket_id]').value = 'stale';
                   form.addEventListener('submit', (event) => event.preventDefault());
                   form.requestSubmit(); }"""
    )
    assert page.input_value("#save input[name=pusherable_socket_id]") == socket_id
    # A form added later gets it too (the MutationObserver).
    page.evaluate(
        """() => { const form = document.createElement('form'); form.method = 'post';
                   form.id = 'late'; document.body.appendChild(form); }"""
    )
    page.wait_for_selector("#late input[name=pusherable_socket_id]", state="attached")


def test_subscribe_and_unsubscribe_from_code_and_from_the_page(visit, article, pusher_server):
    from tests.testapp.models import Article

    other = Article.objects.create(title="Other")
    channel = PRIVATE.format(pk=other.pk)
    client = pusher_server.pusher_client()
    page = visit("alice", article)
    subscribed(page, PRESENCE.format(pk=article.pk))

    page.evaluate(
        """(channel) => { window.got = [];
             window.handle = pusherable.subscribe({channel: channel, events: 'ping',
               callback: (event, data) => {
                 if (event === 'ping') window.got.push(data.n); }}); }""",
        channel,
    )
    subscribed(page, channel)
    client.trigger(channel, "ping", {"n": 1})
    page.wait_for_function("window.got.length === 1")
    page.evaluate("window.handle.unsubscribe()")
    # The page left the channel: the server has nobody on it.
    page.wait_for_function("(c) => !pusherable.pusher.channel(c)", arg=channel)
    _wait(lambda: not client.channel_info(channel, ["subscription_count"])["occupied"])

    # A declaration added to the page later is subscribed; removing it leaves the channel.
    page.evaluate(
        """(channel) => { const div = document.createElement('div'); div.id = 'later';
             const script = document.createElement('script');
             script.type = 'application/json';
             script.setAttribute('data-pusherable-subscription', '');
             script.textContent = JSON.stringify({channels: [channel], events: ['ping']});
             div.appendChild(script); document.body.appendChild(div); }""",
        channel,
    )
    subscribed(page, channel, count=2)
    client.trigger(channel, "ping", {"n": 2})
    wait_for(page, "ping", n=2)
    page.evaluate("document.getElementById('later').remove()")
    _wait(lambda: not client.channel_info(channel, ["subscription_count"])["occupied"])
    assert page.evaluate("window.got") == [1]  # the code's handler had left already


def test_a_refused_subscription_is_a_pusherable_error(visit, article, carol):
    page = visit("carol", article)
    errors = wait_for(page, "pusherable:error", 2)
    assert sorted((e["channel"], e["data"]["reason"], e["data"]["status"]) for e in errors) == [
        (PRESENCE.format(pk=article.pk), "forbidden", 403),
        (PRIVATE.format(pk=article.pk), "forbidden", 403),
    ]
    assert all(e["data"]["source"] == "subscribe" for e in errors)
    assert notifications(page, "pusherable:subscribed") == []


def test_presence_here_joined_left_and_intent_between_two_users(visit, article, users):
    presence = PRESENCE.format(pk=article.pk)
    alice = visit("alice", article)
    [here] = wait_for(alice, "pusherable:here")
    assert here["data"]["members"] == []
    assert here["data"]["me"]["id"] == str(users["alice"].pk)

    bob = visit("bob", article, query="?intent=editing")
    [bob_here] = wait_for(bob, "pusherable:here")
    assert [m["id"] for m in bob_here["data"]["members"]] == [str(users["alice"].pk)]
    assert bob_here["data"]["members"][0]["info"]["intent"] == "viewing"
    [joined] = wait_for(alice, "pusherable:joined")
    assert joined["data"]["member"]["id"] == str(users["bob"].pk)
    assert joined["data"]["member"]["info"]["intent"] == "editing"
    assert alice.evaluate("(c) => pusherable.members(c).map((m) => m.id)", presence) == [
        str(users["bob"].pk)
    ]

    # An intent changed later goes through Django, and reaches the others.
    assert bob.evaluate("(c) => pusherable.setIntent(c, 'viewing')", presence) == {"ok": True}
    [intent] = wait_for(alice, "pusherable:intent")
    assert (intent["data"]["member"]["id"], intent["data"]["intent"]) == (
        str(users["bob"].pk),
        "viewing",
    )
    assert bob.evaluate("(c) => pusherable.me(c).info.intent", presence) == "viewing"

    # A subscription added after joining hears "here" at once, on the same connection.
    bob.evaluate(
        """(channel) => { window.late = [];
             pusherable.subscribe({channel: channel, events: 'x',
               callback: (e, d) => window.late.push([e, d])}); }""",
        presence,
    )
    bob.wait_for_function("window.late.length === 2")
    assert bob.evaluate("window.late.map((l) => l[0])") == [
        "pusherable:subscribed",
        "pusherable:here",
    ]
    assert bob.evaluate("Pusher.instances.length") == 1

    bob.close()
    [left] = wait_for(alice, "pusherable:left")
    assert left["data"]["member"]["id"] == str(users["bob"].pk)
    assert alice.evaluate("(c) => pusherable.members(c)", presence) == []
    assert len(notifications(alice, "pusherable:here")) == 1


def test_a_reload_within_the_grace_period_shows_nothing(visit, article, settings):
    settings.PUSHERABLE_PRESENCE_GRACE_PERIOD = 5
    alice = visit("alice", article)
    bob = visit("bob", article)
    wait_for(alice, "pusherable:joined")
    bob.reload()
    wait_for(bob, "pusherable:here")
    alice.wait_for_timeout(500)  # the leave and the join have reached Alice's page
    assert len(notifications(alice, "pusherable:joined")) == 1
    assert notifications(alice, "pusherable:left") == []


def test_after_a_network_drop_the_page_reconnects_and_reports_the_difference(
    visit, article, users, relays, pusher_server, settings
):
    settings.PUSHERABLE_PRESENCE_GRACE_PERIOD = 1
    presence, private = PRESENCE.format(pk=article.pk), PRIVATE.format(pk=article.pk)
    relay = relays()
    alice = visit("alice", article, relay=relay)
    subscribed(alice, presence, private)
    bob = visit("bob", article)
    wait_for(alice, "pusherable:joined")
    first_socket = alice.evaluate("pusherable.socketId()")

    # The network drops: the browser goes offline and its connections are cut.
    alice.context.set_offline(True)
    relay.blocked = True
    relay.cut()
    alice.wait_for_function("pusherable.state() !== 'connected'")
    # While Alice's page is offline, Bob leaves.
    bob.close()
    # The network is back: the browser says so ("online"), and pusher-js reconnects.
    relay.blocked = False
    alice.context.set_offline(False)
    subscribed(alice, presence, private, count=2)
    second_socket = alice.evaluate("pusherable.socketId()")
    assert second_socket and second_socket != first_socket
    assert alice.input_value("#save input[name=pusherable_socket_id]") == second_socket
    assert alice.evaluate("Pusher.instances.length") == 1

    # Events reach the page again, on the new connection; "here" is not repeated, the
    # user who left meanwhile is reported once the grace period is over.
    pusher_server.pusher_client().trigger(private, "after", {"n": 1})
    wait_for(alice, "after")
    [left] = wait_for(alice, "pusherable:left")
    assert left["data"]["member"]["id"] == str(users["bob"].pk)
    assert len(notifications(alice, "pusherable:here")) == 1
    states = [n["data"]["current"] for n in notifications(alice, "pusherable:state")]
    assert states[-1] == "connected" and "connected" in states[:-1]


# soketi ignores pusher:signin unless told otherwise, and then closes every connection
# that does not sign in: tests/e2e/test_terminate.py covers sign-in there.
@pytest.mark.pusher_targets("bundled")
def test_signin_through_the_user_authentication_endpoint(visit, article, users, live_target):
    page = visit("alice", article)
    subscribed(page, PRESENCE.format(pk=article.pk))
    assert page.evaluate("pusherable.signin()") is True
    page.evaluate("pusherable.pusher.user.signinDonePromise.then(() => { window.signedIn = 1; })")
    page.wait_for_function("window.signedIn === 1")
    assert page.evaluate("pusherable.pusher.user.user_data.id") == str(users["alice"].pk)


def _wait(condition: Callable[[], bool], timeout: float = LIVE_TIMEOUT_MS / 1000) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
