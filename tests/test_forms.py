"""MergeFormMixin: the collision guard on a plain model form, outside the mixins and the admin."""

import pytest
from django import forms
from django.db import transaction

from pusherable.forms import MergeFormMixin
from pusherable.merge import read_snapshot
from tests.testapp.models import Article


class ArticleForm(MergeFormMixin, forms.ModelForm):
    class Meta:
        model = Article
        fields = ["title", "slug", "body"]


def render_token(article):
    form = ArticleForm(instance=article)
    return form["pusherable_version"].value()


def post(article, token, **changes):
    data = {"title": article.title, "slug": article.slug, "body": article.body}
    data.update(changes, pusherable_version=token)
    with transaction.atomic():
        form = ArticleForm(data, instance=Article.objects.get(pk=article.pk))
        if form.is_valid():
            form.save()
    return form


@pytest.mark.django_db
def test_a_plain_model_form_merges_and_says_what_it_kept(article, alice):
    token = render_token(article)
    assert read_snapshot(token, article) is not None
    Article.objects.filter(pk=article.pk).update(title="Theirs")
    form = post(article, token, body="Mine")
    assert form.is_valid()
    article.refresh_from_db()
    assert (article.title, article.body) == ("Theirs", "Mine")
    assert form.pusher_merge.theirs == ["title"]
    assert form.pusher_merge_message() == "Someone else's new Title was kept, with your changes."


@pytest.mark.django_db
def test_a_plain_model_form_refuses_a_conflict(article):
    token = render_token(article)
    Article.objects.filter(pk=article.pk).update(title="Theirs")
    form = post(article, token, title="Mine")
    assert not form.is_valid()
    assert "Someone else changed this to “Theirs”" in form.errors["title"][0]
    assert Article.objects.get(pk=article.pk).title == "Theirs"
    assert form["title"].value() == "Mine"


@pytest.mark.django_db
def test_a_plain_model_form_refuses_a_save_of_a_deleted_object(article):
    token = render_token(article)
    data = {"title": "x", "slug": "", "body": "", "pusherable_version": token}
    form = ArticleForm(data, instance=Article.objects.get(pk=article.pk))
    Article.objects.filter(pk=article.pk).delete()
    assert not form.is_valid()
    assert form.non_field_errors()[0].startswith("This article was deleted since you opened")


@pytest.mark.django_db
def test_a_new_object_has_no_snapshot():
    assert "pusherable_version" not in ArticleForm().fields
