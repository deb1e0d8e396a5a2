from django.contrib.auth.mixins import PermissionRequiredMixin
from django.views.generic import DetailView, ListView, UpdateView

from pusherable.mixins import PusherDetailMixin, PusherUpdateMixin

from .models import Article


class ArticleListView(PermissionRequiredMixin, ListView):
    model = Article
    permission_required = "articles.view_article"


# --8<-- [start:views]
class ArticleDetailView(PermissionRequiredMixin, PusherDetailMixin, DetailView):
    """Sends `view` when an editor opens the article."""

    model = Article
    permission_required = "articles.view_article"


class ArticleUpdateView(PermissionRequiredMixin, PusherUpdateMixin, UpdateView):
    """Sends `update` when an editor opens the form, `updated` after a save."""

    model = Article
    fields = ["title", "body"]
    permission_required = "articles.change_article"


# --8<-- [end:views]
