"""Pairs of simultaneous saves of one article on the demo: no 5xx, no lost update.

The demo runs as it does for a user: Django's threaded development server on a
SQLite file (in a temporary folder), with the demo's own settings, and the
bundled Pusher-compatible server, on free loopback ports, stopped by PID
(:func:`demo.launcher.running_demo`). ``benchmarks/concurrent_saves.py`` runs
the same pairs and prints the counts.
"""

import pytest

from benchmarks.concurrent_saves import Save, form_fields, lost_updates, run_pairs

PAIRS = 20


@pytest.mark.e2e
def test_simultaneous_saves_never_answer_5xx_nor_lose_an_update(tmp_path):
    from demo.launcher import running_demo

    with running_demo(tmp_path) as site:
        tally = run_pairs(site.url, PAIRS)
    assert tally.errors == 0, tally.summary()
    assert tally.unexpected == 0, tally.summary()
    assert tally.lost == []
    # Whatever the guard refuses or merges, one save of each pair goes through.
    assert tally.saved >= PAIRS, tally.summary()
    assert tally.saved + tally.refused == 2 * PAIRS
    # Half the pairs change different fields: both saves stand, merged (unless the
    # database stayed busy through every retry, which refuses one of them).
    assert tally.merged >= PAIRS // 2 - tally.busy, tally.summary()


# -- the harness's own checks -----------------------------------------------------------


def test_lost_updates_finds_a_saved_change_that_is_missing():
    original = {"title": "Old", "standfirst": "Old", "pusherable_version": "1"}
    alice = Save("alice", {"title": "A"}, 302, "saved")
    bob = Save("bob", {"standfirst": "B"}, 302, "saved")
    both = {**original, "title": "A", "standfirst": "B"}
    assert lost_updates(original, [alice, bob], both) == []
    assert lost_updates(original, [alice, bob], {**original, "title": "A"}) == [
        "standfirst: 'Old', expected one of ['B']"
    ]


def test_lost_updates_accepts_either_save_of_one_field_and_no_trace_of_a_refused_one():
    original = {"title": "Old", "body": "Text"}
    alice = Save("alice", {"title": "A"}, 302, "saved")
    bob = Save("bob", {"title": "B"}, 302, "saved")
    assert lost_updates(original, [alice, bob], {"title": "B", "body": "Text"}) == []
    refused = Save("bob", {"body": "Mine"}, 200, "refused")
    assert lost_updates(original, [alice, refused], {"title": "A", "body": "Mine"}) == [
        "body: 'Mine', expected one of ['Text']"
    ]


def test_form_fields_reads_what_a_browser_posts():
    html = """
    <form id="other"><input name="q" value="x"></form>
    <form method="post" id="article-form">
      <input type="hidden" name="csrfmiddlewaretoken" value="t">
      <input name="title" value="A &amp; B"><input type="checkbox" name="live">
      <textarea name="body">
    Line one
    </textarea>
      <select name="section"><option value="news">News</option>
        <option value="sport" selected>Sport</option></select>
      <select name="status"><option value="draft">Draft</option></select>
      <button type="submit" name="go">Save</button>
    </form>"""
    assert form_fields(html) == {
        "csrfmiddlewaretoken": "t",
        "title": "A & B",
        "body": "    Line one\n    ",
        "section": "sport",
        "status": "draft",
    }
