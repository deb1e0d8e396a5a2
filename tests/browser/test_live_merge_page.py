"""pusherable-forms.js in Chromium, on a fixture page (``tests/js/fixtures/edit-form.html``).

The page holds the widgets Django renders for an article, a stand-in for pusher-js
(``window.serverSends(channel, event, data)`` plays the server) and the real
static files. No server: each test loads the file, so it starts from a fresh page.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).resolve().parents[1] / "js" / "fixtures" / "edit-form.html"
CHANNEL = "private-article_7"


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(5_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors


def open_form(page, variant: str = "") -> None:
    page.goto(FIXTURE.as_uri() + (f"#{variant}" if variant else ""))
    page.wait_for_function(
        "() => window.notifications.some((n) => n.event === 'pusherable:subscribed')"
    )


def updated(changed: dict, previous: dict, **extra) -> dict:
    return {
        "event": "updated",
        "model": "testapp.article",
        "pk": 7,
        "object": {},
        "changed": changed,
        "previous": previous,
        "version": "v2",
        "previous_version": "v1",
        "user": "alice",
        "user_id": "1",
        "user_name": "Alice",
        **extra,
    }


def send(page, data: dict, event: str = "updated") -> None:
    page.evaluate("([c, e, d]) => window.serverSends(c, e, d)", [CHANNEL, event, data])


def events(page, name: str) -> list:
    return page.evaluate(
        "(name) => window.notifications.filter((n) => n.event === name).map((n) => n.data)", name
    )


def note(page, field: str):
    return page.locator(f".pusherable-field-note[data-pusherable-field={field}]")


def test_untouched_fields_take_the_new_values_of_every_widget(page):
    from playwright.sync_api import expect

    open_form(page)
    send(
        page,
        updated(
            {
                "title": "New title",
                "body": "First\r\nSecond",
                "section": "science",
                "author": 2,
                "tags": [2, 3],
                "is_live": True,
                "kind": "opinion",
                "colours": ["blue"],
                "published_on": "2024-06-02",
                "starts_at": "10:15:00.250000",
                "updated": "2024-06-02T11:00:00Z",
                "price": "4.50",
            },
            {
                "title": "Hello",
                "body": "Line one\nLine two",
                "section": "news",
                "author": 1,
                "tags": [1],
                "is_live": False,
                "kind": "report",
                "colours": ["red"],
                "published_on": "2024-05-01",
                "starts_at": "09:30:00",
                "updated": "2024-05-01T10:00:00Z",
                "price": "3.20",
            },
        ),
    )
    expect(page.locator("#id_title")).to_have_value("New title")
    expect(page.locator("#id_body")).to_have_value("First\nSecond")
    expect(page.locator("#id_section")).to_have_value("science")
    expect(page.locator("#id_author")).to_have_value("2")
    assert page.eval_on_selector(
        "#id_tags", "(s) => Array.from(s.selectedOptions, (o) => o.value)"
    ) == ["2", "3"]
    expect(page.locator("#id_is_live")).to_be_checked()
    expect(page.locator("#id_kind_1")).to_be_checked()
    expect(page.locator("#id_colours_0")).not_to_be_checked()
    expect(page.locator("#id_colours_1")).to_be_checked()
    expect(page.locator("#id_published_on")).to_have_value("2024-06-02")
    expect(page.locator("#id_starts_at")).to_have_value("10:15:00")
    # The field showed the old UTC value as Django renders it: UTC it is.
    expect(page.locator("#id_updated")).to_have_value("2024-06-02 11:00:00")
    expect(page.locator("#id_price")).to_have_value("4.50")
    # Each one highlighted, briefly.
    expect(note(page, "title")).to_have_text("Alice changed Title")
    expect(page.locator("#id_title")).to_have_attribute("data-pusherable-state", "merged")
    expect(note(page, "kind")).to_have_text("Alice changed Kind")
    [merged] = events(page, "pusherable:merged")
    assert sorted(merged["fields"]) == sorted(
        [
            "title",
            "body",
            "section",
            "author",
            "tags",
            "is_live",
            "kind",
            "colours",
            "published_on",
            "starts_at",
            "updated",
            "price",
        ]
    )
    assert merged["conflicts"] == [] and merged["skipped"] == []
    assert (merged["user"], merged["version"], merged["catch_up"]) == ("Alice", "v2", False)
    expect(note(page, "title")).to_have_count(0, timeout=6_000)  # the highlight fades
    expect(page.locator("#id_title")).not_to_have_attribute("data-pusherable-state", "merged")


def test_a_field_the_user_changed_is_kept_and_offers_theirs(page):
    from playwright.sync_api import expect

    open_form(page)
    page.fill("#id_title", "My title")
    page.select_option("#id_tags", ["3"])
    send(
        page,
        updated(
            {"title": "Alice title", "tags": [2], "section": "science"},
            {"title": "Hello", "tags": [1], "section": "news"},
        ),
    )
    expect(page.locator("#id_title")).to_have_value("My title")
    expect(note(page, "title")).to_contain_text("Alice changed this to “Alice title”.")
    expect(page.locator("#id_title")).to_have_attribute("data-pusherable-state", "conflict")
    expect(page.locator("#id_section")).to_have_value("science")  # untouched: filled
    [merged] = events(page, "pusherable:merged")
    assert merged["fields"] == ["section"] and sorted(merged["conflicts"]) == ["tags", "title"]
    # The guard's own event still follows, once the form is merged.
    names = [n["event"] for n in page.evaluate("window.notifications")]
    assert names.index("pusherable:merged") < names.index("pusherable:conflict")

    note(page, "tags").get_by_role("button", name="Use theirs").click()
    assert page.eval_on_selector(
        "#id_tags", "(s) => Array.from(s.selectedOptions, (o) => o.value)"
    ) == ["2"]
    expect(note(page, "tags")).to_have_count(0)
    # Typing their value by hand settles the conflict as well.
    page.fill("#id_title", "Alice title")
    expect(note(page, "title")).to_have_count(0)
    # A later change of the same field by a colleague now fills it: it is theirs.
    send(page, updated({"title": "Third"}, {"title": "Alice title"}, version="v3"))
    expect(page.locator("#id_title")).to_have_value("Third")


def test_a_field_that_does_not_hold_their_old_value_is_not_overwritten(page):
    from playwright.sync_api import expect

    open_form(page)
    # The page shows "Hello"; the colleague changed it from something else: whatever
    # the page holds, it is not the value their change started from.
    send(page, updated({"title": "Theirs"}, {"title": "Something else"}))
    expect(page.locator("#id_title")).to_have_value("Hello")
    expect(note(page, "title")).to_contain_text("Alice changed this to “Theirs”.")


def test_values_that_cannot_be_shown_faithfully_are_never_guessed(page):
    from playwright.sync_api import expect

    open_form(page)
    page.fill("#id_starts_at", "11:00:00")
    send(
        page,
        updated(
            {
                "attachment": "/media/new.pdf",
                "metadata": {"lang": "fr"},
                "section": "sport",  # no such option
                "updated": "2024-06-02T11:00:00+02:00",  # the page's time zone is unknown
                "starts_at": {"odd": True},
            },
            {"attachment": None, "metadata": {"lang": "en"}, "section": "news"},
        ),
    )
    for field in ("attachment", "metadata", "section", "updated"):
        expect(note(page, field)).to_have_text("Changed by Alice; reload to see.")
        expect(note(page, field)).to_have_attribute("role", "alert")
    expect(note(page, "starts_at")).to_have_text(
        "Alice changed Starts at too; reload to see their value."
    )
    expect(page.locator("#id_metadata")).to_have_value('{"lang": "en"}')
    expect(page.locator("#id_section")).to_have_value("news")
    expect(page.locator("#id_updated")).to_have_value("2024-05-01 10:00:00")
    [merged] = events(page, "pusherable:merged")
    assert sorted(merged["skipped"]) == [
        "attachment",
        "metadata",
        "section",
        "starts_at",
        "updated",
    ]


def test_merge_off_fills_nothing_but_still_marks_conflicts(page):
    from playwright.sync_api import expect

    open_form(page, "merge-off")
    page.fill("#id_body", "Mine")
    send(page, updated({"title": "Theirs", "body": "Their body"}, {"title": "Hello", "body": ""}))
    expect(note(page, "body")).to_contain_text("Alice changed this to “Their body”.")
    expect(page.locator("#id_title")).to_have_value("Hello")
    expect(note(page, "title")).to_have_count(0)
    # The built-in guard notice tells the rest.
    expect(page.locator(".pusherable-conflict")).to_contain_text("Changed by Alice")


def test_the_forms_own_version_and_other_objects_are_left_alone(page):
    open_form(page)
    send(page, updated({"title": "Same version"}, {"title": "Hello"}, version="v1"))
    send(page, updated({"title": "Another article"}, {"title": "Hello"}, pk=8))
    assert page.input_value("#id_title") == "Hello"
    assert events(page, "pusherable:merged") == []


def test_the_version_is_read_from_the_value_on_older_pages(page):
    open_form(page, "legacy")
    send(page, updated({"title": "Same version"}, {"title": "Hello"}, version="v1"))
    assert page.input_value("#id_title") == "Hello"
    assert page.evaluate("pusherable.conflicts()") == []
    send(page, updated({"title": "Next"}, {"title": "Hello"}, version="v2"))
    assert page.input_value("#id_title") == "Next"


def test_a_refused_save_shows_their_value_with_use_theirs(page):
    from playwright.sync_api import expect

    open_form(page, "conflicts")
    expect(note(page, "title")).to_have_text("Alice saved “Alice title”. Use theirs")
    expect(note(page, "tags")).to_contain_text("Alice saved “b, c”.")
    expect(page.locator("#id_title")).to_have_attribute("data-pusherable-state", "conflict")
    for field in ("title", "tags", "is_live", "kind"):
        note(page, field).get_by_role("button", name="Use theirs").click()
        expect(note(page, field)).to_have_count(0)
    expect(page.locator("#id_title")).to_have_value("Alice title")
    assert page.eval_on_selector(
        "#id_tags", "(s) => Array.from(s.selectedOptions, (o) => o.value)"
    ) == ["2", "3"]
    expect(page.locator("#id_is_live")).to_be_checked()
    expect(page.locator("#id_kind_1")).to_be_checked()


def test_a_refused_field_kept_by_the_user_is_not_overwritten_live(page):
    from playwright.sync_api import expect

    open_form(page, "conflicts")
    # The page loaded with Bob's own title: it is his, even untouched since.
    send(page, updated({"title": "Carol title"}, {"title": "Alice title"}, user_name="Carol"))
    expect(page.locator("#id_title")).to_have_value("Bob title")
    expect(note(page, "title")).to_contain_text("Carol changed this to “Carol title”.")


def test_catch_up_without_history_refills_untouched_fields(page):
    from playwright.sync_api import expect

    open_form(page)
    page.fill("#id_body", "Mine")
    page.evaluate(
        """() => {
            window.fetch = async (url) => ({
              ok: true, status: 200,
              json: async () => ({model: 'testapp.article', pk: 7, version: 'v9',
                deleted: false, changes: null,
                object: {title: 'While away', body: 'Their body', section: 'news',
                  metadata: {lang: 'en'}, attachment: null}}),
            });
            window.dispatchEvent(new Event('online'));
        }"""
    )
    expect(page.locator("#id_title")).to_have_value("While away")
    expect(page.locator("#id_body")).to_have_value("Mine")
    expect(note(page, "body")).to_contain_text("changed this to “Their body”.")
    [missed] = events(page, "pusherable:missed")
    assert missed["object"]["title"] == "While away" and missed["catch_up"] is True
    [merged] = events(page, "pusherable:merged")
    assert merged["fields"] == ["title"] and merged["catch_up"] is True
    # The whole object came, not what changed: what cannot be shown is not flagged.
    assert merged["skipped"] == []
    expect(note(page, "metadata")).to_have_count(0)
    # The guard notice says the form is out of date.
    expect(page.locator(".pusherable-conflict")).to_be_visible()
