"""The README's three steps end to end: real pusher-js in Chromium, the bundled server.

The page is the README's, read from README.md (:mod:`tests.readme`), with only the
``PUSHER_*`` settings for channels (the harness adds the server's address and a
local pusher-js). A recorder placed after step 3 keeps what its ``pusherable_notify``
received and what it logged, so the test reads both.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.e2e.conftest import Site
from tests.readme import read_page, readme_page, readme_templates

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(120)]

RECORDER = """
<script>
  // After step 3: keep what its pusherable_notify receives and logs, for the test.
  window.e2eEvents = [];
  window.readmeLog = [];
  window.readmeErrors = [];
  const readmeNotify = window.pusherable_notify;
  const log = console.log.bind(console);
  console.log = (...parts) => {
    window.readmeLog.push(parts.map(String).join(" "));
    log(...parts);
  };
  window.pusherable_notify = function (event, data, meta) {
    window.e2eEvents.push({ event: event, data: data, channel: meta ? meta.channel : null });
    try { readmeNotify(event, data); } catch (error) { window.readmeErrors.push(String(error)); }
  };
</script>
{% pusherable_subscribe 'barrier' model='testapp.Article' channel_type='public' %}
"""


def test_the_readme_page_hears_presence_update_and_updated(site: Site, settings) -> None:
    settings.TEMPLATES = readme_templates(readme_page(after=RECORDER))
    path = site.path("e2e-readme")
    bob = site.login("bob").open(path)
    bob.wait_for("pusherable:here", channel=site.channel)

    # Alice opens the form in her browser: Bob sees her arrive, and her `update`.
    alice_id = site.member_id("alice")
    site.login("alice").open(path)
    bob.wait_for("pusherable:joined", member__id=alice_id)
    bob.wait_for("update", user="alice")

    # Alice saves (from the form the view renders, as her browser would post it).
    alice = Client()
    alice.force_login(site.users["alice"])
    fields = read_page(alice.get(path)).fields
    response = alice.post(path, {**fields, "title": "Saved by Alice"})
    assert response.status_code == 302
    [updated] = bob.wait_for("updated", changed__title="Saved by Alice")
    assert updated["user"] == "alice"

    # Step 3 ran on what arrived, as the README says it would.
    log = bob.js("() => window.readmeLog")
    assert "Alice is here" in log
    # Named as presence names her (PUSHERABLE_USER_DISPLAY_NAME), not by username.
    assert any(line.startswith("Alice changed") for line in log), log
    assert bob.js("() => window.readmeErrors") == []
