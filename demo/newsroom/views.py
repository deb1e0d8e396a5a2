"""The newsroom's views: one generic view per step, each with its pusherable mixin.

Rendering a page sends ``view``, ``update`` or ``delete`` on the article's
channel; saving sends ``updated`` (with the changed fields), ``created`` or
``deleted`` once the transaction has committed, on the article's channel and on
the model's (the live article list). The tab that saved is left out. The edit
form refuses a save made from a form older than the article (the collision guard).
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.contrib.messages.views import SuccessMessageMixin
from django.db.models import QuerySet
from django.urls import reverse_lazy
from django.views.generic import CreateView, DeleteView, DetailView, ListView, UpdateView

from pusherable.authorization import register_view
from pusherable.mixins import (
    PusherCreateMixin,
    PusherDeleteMixin,
    PusherDetailMixin,
    PusherUpdateMixin,
)
from pusherable.users import display_name

from .forms import ArticleForm
from .models import Article


class VisibleArticlesMixin:
    """Editors see every article; other readers only what is published."""

    def get_queryset(self) -> QuerySet[Article]:
        articles = Article.objects.select_related("author")
        if self.request.user.has_perm("newsroom.view_article"):
            return articles
        return articles.filter(status=Article.Status.PUBLISHED)


class ArticleListView(LoginRequiredMixin, VisibleArticlesMixin, ListView):
    """The article list; its template subscribes to the model's channel, so that
    new, changed and deleted articles show up without a reload (editors only:
    the channel is authorized by the model's permissions)."""

    model = Article
    context_object_name = "articles"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # Events carry the author's key; the page shows names, as rendered here.
        # Only editors receive events, so only they need the names.
        names = {}
        if self.request.user.has_perm("newsroom.view_article"):
            users = get_user_model().objects.filter(is_active=True)
            names = {str(user.pk): display_name(user) for user in users}
        context["author_names"] = names
        return context


# --8<-- [start:detail]
# The article's channel admits only those this view would show the article to
# (and, by the default policy, who may view or change articles).
@register_view
class ArticleDetailView(LoginRequiredMixin, VisibleArticlesMixin, PusherDetailMixin, DetailView):
    """Sends ``view``: everyone on this article hears that someone opened it."""

    model = Article


# --8<-- [end:detail]


# --8<-- [start:create]
class ArticleCreateView(
    PermissionRequiredMixin, SuccessMessageMixin, PusherCreateMixin, CreateView
):
    """Sends ``created`` after the new article is committed."""

    model = Article
    form_class = ArticleForm
    permission_required = "newsroom.add_article"
    success_message = "Article created."

    def form_valid(self, form: ArticleForm):
        form.instance.author = self.request.user
        return super().form_valid(form)


# --8<-- [end:create]


# --8<-- [start:update]
class ArticleUpdateView(
    PermissionRequiredMixin, PusherUpdateMixin, SuccessMessageMixin, UpdateView
):
    """Sends ``update`` when the form is shown and ``updated`` when it is saved.

    A save made from a form older than the article is merged with it, field by
    field: changes to other fields stand, and only a field that both editors
    changed is refused, with the other value shown (``pusher_collision_guard``,
    on by default). ``newsroom.js`` shows the live "changed by" notice from the
    ``pusherable:conflict`` event, so pusherable.js's built-in one is off.

    ``SuccessMessageMixin`` comes after ``PusherUpdateMixin``: it adds its message
    whatever ``form_valid()`` returns, and a refused save is no success. A merged
    save adds its own message too ("Bob's new Title was kept").
    """

    model = Article
    form_class = ArticleForm
    permission_required = "newsroom.change_article"
    success_message = "Article saved."
    pusher_collision_notice = False


# --8<-- [end:update]


# --8<-- [start:locked]
class ArticleLockedUpdateView(ArticleUpdateView):
    """The same form in lock mode: one editor at a time ("Edit alone").

    The first editor holds the article; the others see the form read-only, who holds
    it, and "Ask to edit"; editors who may delete articles may take it over. The lock
    ends by itself when its holder's last tab leaves the article.
    """

    pusher_edit_mode = "lock"
    pusher_lock_takeover_permission = "newsroom.delete_article"


# --8<-- [end:locked]


# --8<-- [start:delete]
class ArticleDeleteView(PermissionRequiredMixin, PusherDeleteMixin, DeleteView):
    """Sends ``delete`` with the confirmation page and ``deleted`` once it is gone."""

    model = Article
    permission_required = "newsroom.delete_article"
    success_url = reverse_lazy("newsroom:article-list")


# --8<-- [end:delete]
