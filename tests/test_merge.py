"""The three-way merge by field type: base (rendered), mine (posted), theirs (stored)."""

import datetime
from decimal import Decimal

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.db.models import F
from django.http import QueryDict
from django.test.utils import isolate_apps
from django.utils import timezone

from pusherable.guard import install_version_field, refuse_conflicts
from pusherable.merge import (
    apply_merge,
    comparable,
    merge_form,
    merge_values,
    read_snapshot,
    rendered_form_values,
    sign_snapshot,
    snapshot_of,
)
from pusherable.versions import object_version
from tests.testapp.models import Article, Tag


class StoryForm(forms.ModelForm):
    status = forms.ChoiceField(choices=[("draft", "Draft"), ("live", "Live")], required=False)

    class Meta:
        model = Article
        fields = [
            "title",
            "body",
            "author",
            "tags",
            "price",
            "rating",
            "published_on",
            "starts_at",
            "reading_time",
            "is_live",
            "metadata",
            "attachment",
        ]


def posted(article, **changes):
    """The form as a browser posts it unchanged, with ``changes``."""
    data = {
        "title": article.title,
        "body": article.body.replace("\n", "\r\n"),
        "author": article.author_id or "",
        "tags": [str(tag.pk) for tag in article.tags.all()],
        "price": "" if article.price is None else str(article.price),
        "rating": str(article.rating),
        "published_on": article.published_on.isoformat() if article.published_on else "",
        "starts_at": article.starts_at.isoformat() if article.starts_at else "",
        "reading_time": "",
        "metadata": '{"lang": "en"}',
        "initial-metadata": '{"lang": "en"}',
        "status": "",
    }
    if article.is_live:
        data["is_live"] = "on"
    data.update(changes)
    return data


def base_token(article):
    form = StoryForm(instance=article)
    names = [name for name in form.fields if name != "status"]
    values = rendered_form_values(form, names)
    return sign_snapshot(snapshot_of(article, object_version(article), form.fields, values))


def merge(article, token, data, files=None):
    stored = Article.objects.get(pk=article.pk)
    form = StoryForm(data, files, instance=Article.objects.get(pk=article.pk))
    assert form.is_valid(), form.errors
    return merge_form(form, stored, read_snapshot(token, article))


@pytest.fixture
def story(article):
    article.body = "One\nTwo"
    article.save()
    return article


# Each case: (field, what "they" store, what "I" post, the stored value after "them").
CASES = {
    "text": ("title", {"title": "Theirs"}, {"title": "Mine"}),
    "text with line endings": ("body", {"body": "One\nThree"}, {"body": "One\r\nFour"}),
    "decimal": ("price", {"price": Decimal("4.00")}, {"price": "5"}),
    "float": ("rating", {"rating": 2.5}, {"rating": "3.5"}),
    "date": (
        "published_on",
        {"published_on": datetime.date(2025, 1, 1)},
        {"published_on": "2025-02-02"},
    ),
    "time": ("starts_at", {"starts_at": datetime.time(9, 30)}, {"starts_at": "10:00"}),
    "duration": (
        "reading_time",
        {"reading_time": datetime.timedelta(minutes=5)},
        {"reading_time": "00:07:00"},
    ),
    "boolean": ("is_live", {"is_live": True}, {"is_live": "on"}),
    "json": ("metadata", {"metadata": {"lang": "fr"}}, {"metadata": '{"lang": "de"}'}),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_field_type_merges_three_ways(story, case, alice, django_user_model):
    name, theirs, mine = CASES[case]
    token = base_token(story)

    # Only I changed it: mine.
    result = merge(story, token, posted(story, **mine))
    assert name in result.mine and not result.conflicts

    # Only they changed it: theirs is kept, and I left it untouched.
    Article.objects.filter(pk=story.pk).update(**theirs)
    result = merge(story, token, posted(story))
    assert result.theirs == [name] and name in result.untouched and not result.conflicts

    # Both changed it, to different values: a conflict. (A box both ticked is no conflict.)
    result = merge(story, token, posted(story, **mine))
    assert list(result.conflicts) == ([] if case == "boolean" else [name])

    # Both changed it to the same value: no conflict.
    stored = Article.objects.get(pk=story.pk)
    same = StoryForm(instance=stored)[name].value()
    if isinstance(same, bool):
        same = "on" if same else ""
    result = merge(story, token, posted(story, **{name: same}))
    assert not result.conflicts and result.theirs == []


def test_foreign_key_by_its_key(story, alice, django_user_model):
    bob = django_user_model.objects.create_user("bob")
    carol = django_user_model.objects.create_user("carol")
    token = base_token(story)
    Article.objects.filter(pk=story.pk).update(author=bob)
    assert merge(story, token, posted(story)).theirs == ["author"]
    assert list(merge(story, token, posted(story, author=carol.pk)).conflicts) == ["author"]
    assert not merge(story, token, posted(story, author=bob.pk)).conflicts


def test_many_to_many_as_a_set(story):
    first = story.tags.get()
    second, third = Tag.objects.create(name="b"), Tag.objects.create(name="c")
    token = base_token(story)
    story.tags.add(second)  # no save(): the version field does not move
    assert merge(story, token, posted(story)).theirs == []  # posted() reads the new tags
    result = merge(story, token, posted(story, tags=[str(first.pk)]))
    assert result.theirs == ["tags"]
    result = merge(story, token, posted(story, tags=[str(first.pk), str(third.pk)]))
    assert list(result.conflicts) == ["tags"]
    result = merge(story, token, posted(story, tags=[str(second.pk), str(first.pk)]))
    assert not result.conflicts  # the same set, in another order


def test_files_untouched_unless_uploaded_or_cleared(story, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    token = base_token(story)
    stored = Article.objects.get(pk=story.pk)
    stored.attachment.save("theirs.txt", SimpleUploadedFile("theirs.txt", b"x"))
    # No upload: my form leaves their file alone.
    result = merge(story, token, posted(story))
    assert result.theirs == ["attachment"]
    # An upload of my own against theirs: a conflict.
    upload = {"attachment": SimpleUploadedFile("mine.txt", b"y")}
    assert list(merge(story, token, posted(story), upload).conflicts) == ["attachment"]


def test_aware_datetimes_compare_across_time_zones():
    field = forms.DateTimeField()
    utc = datetime.datetime(2025, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
    paris = utc.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
    assert comparable(field, utc) == comparable(field, paris)
    assert comparable(field, utc) != comparable(field, utc + datetime.timedelta(seconds=1))
    assert timezone.is_aware(paris)


def test_comparable_treats_form_equivalents_alike():
    assert comparable(forms.CharField(), None) == comparable(forms.CharField(), "")
    assert comparable(forms.CharField(), " a ") == comparable(forms.CharField(), "a")
    assert comparable(forms.DecimalField(), Decimal("1.50")) == comparable(
        forms.DecimalField(), Decimal("1.5")
    )
    assert comparable(forms.JSONField(), {"a": 1, "b": 2}) == comparable(
        forms.JSONField(), {"b": 2, "a": 1}
    )
    assert comparable(forms.BooleanField(), None) == comparable(forms.BooleanField(), False)
    assert comparable(forms.NullBooleanField(), None) != comparable(
        forms.NullBooleanField(), False
    )


def test_unknown_base_conflicts_only_where_values_differ(story):
    data = posted(story, title="Mine")
    result = merge(story, "not a token", data)
    assert list(result.conflicts) == ["title"]
    assert "body" in result.mine  # same value as stored: no conflict, nothing lost


def test_merge_values_for_apis():
    base = {"title": "A", "body": "B", "tags": [1, 2]}
    theirs = {"title": "A2", "body": "B", "tags": [2, 1]}
    result = merge_values(base, {"title": "A", "body": "B2", "tags": [1, 2]}, theirs)
    assert (result.mine, result.theirs, result.conflicts) == (["body"], ["title"], {})
    assert result.values({"title": "A", "body": "B2"}, theirs)["title"] == "A2"
    result = merge_values(base, {"title": "A3"}, theirs)
    assert result.conflicts["title"].theirs == "A2"
    # A name the base does not know conflicts only where the values differ.
    assert merge_values({}, {"x": 1}, {"x": 1}).mine == ["x"]
    assert list(merge_values({}, {"x": 1}, {"x": 2}).conflicts) == ["x"]


def test_updates_that_read_and_write_still_merge(story):
    """F() updates (a counter moved by a script) count as theirs like any value."""
    token = base_token(story)
    Article.objects.filter(pk=story.pk).update(rating=F("rating") + 1)
    assert merge(story, token, posted(story)).theirs == ["rating"]


@isolate_apps("tests.testapp")
def test_choices_merge_by_their_value_and_are_shown_by_their_label():
    class Story(models.Model):
        status = models.CharField(
            max_length=10, choices=[("draft", "Draft"), ("review", "In review"), ("live", "Live")]
        )
        rank = models.IntegerField(choices=[(1, "First"), (2, "Second")], null=True)

        class Meta:
            app_label = "testapp"

    class StoryForm(forms.ModelForm):
        class Meta:
            model = Story
            fields = ["status", "rank"]

    rendered = Story(pk=1, status="draft", rank=1)
    form = StoryForm(instance=rendered)
    values = rendered_form_values(form, ["status", "rank"])
    snapshot = snapshot_of(rendered, "t:1", form.fields, values)

    stored = Story(pk=1, status="review", rank=1)
    data = QueryDict(mutable=True)
    data.update({"status": "live", "rank": "2", "pusherable_version": sign_snapshot(snapshot)})
    form = StoryForm(data, instance=Story(pk=1, status="review", rank=1))
    install_version_field(form, rendered, "t:1")
    assert form.is_valid(), form.errors
    result = merge_form(form, stored, snapshot)
    assert result.mine == ["rank"] and list(result.conflicts) == ["status"]

    refuse_conflicts(form, rendered, stored, result, version="t:2", who={"status": "Alice"})
    assert form.errors["status"] == [
        "Alice changed this to “In review” since you opened the form. Save again to keep "
        "yours, or use theirs."
    ]
    assert form["status"].value() == "live" and form["rank"].value() == "2"


def test_applying_a_merge_reads_nothing_again(story, django_assert_num_queries):
    """The stored values the merge compared (related objects, M2M lists) are reused."""
    token = base_token(story)
    Article.objects.filter(pk=story.pk).update(title="Theirs")
    stored = Article.objects.get(pk=story.pk)
    form = StoryForm(posted(story), instance=Article.objects.get(pk=story.pk))
    assert form.is_valid(), form.errors
    result = merge_form(form, stored, read_snapshot(token, story))
    assert "tags" in result.untouched and "author" in result.untouched
    with django_assert_num_queries(0):
        apply_merge(form, stored, result)
    assert form.instance.title == "Theirs"
