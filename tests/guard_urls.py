"""Views and URLs of the collision guard and live list tests (``tests/test_guard.py``)."""

from django.contrib import admin
from django.urls import include, path, reverse_lazy
from django.views.generic import CreateView, ListView, UpdateView

from pusherable.admin import PusherableAdminMixin
from pusherable.mixins import PusherCreateMixin, PusherUpdateMixin
from tests.testapp.models import Account, Article, Document, Tag, Ticket
from tests.testapp.views import ARTICLE_FORM_FIELDS


class ArticleEdit(PusherUpdateMixin, UpdateView):
    """Guarded by the model's ``updated_at`` (an ``auto_now`` field)."""

    model = Article
    fields = ARTICLE_FORM_FIELDS
    template_name = "guard_tests/form.html"
    success_url = reverse_lazy("guard-article-list")


class ArticleEditByHand(ArticleEdit):
    """A template that renders the fields one by one, with the version tag."""

    template_name = "guard_tests/form_by_hand.html"


class LockedArticleEdit(ArticleEdit):
    """Lock mode: one editor at a time; those who may delete articles may take over."""

    pusher_edit_mode = "lock"
    pusher_lock_takeover_permission = "testapp.delete_article"
    template_name = "guard_tests/lock_form.html"


class UnguardedArticleEdit(ArticleEdit):
    pusher_collision_guard = False


class QuietListArticleEdit(ArticleEdit):
    pusher_model_channel_events = ()


class TagEdit(PusherUpdateMixin, UpdateView):
    """Guarded by a digest of the fields: Tag has no ``auto_now`` field."""

    model = Tag
    fields = ["name"]
    template_name = "guard_tests/form.html"
    success_url = "/done/"


class DocumentEdit(PusherUpdateMixin, UpdateView):
    """Guarded by a digest, with a multi-line text field."""

    model = Document
    fields = ["content"]
    template_name = "guard_tests/form.html"
    success_url = "/done/"


class AccountEdit(PusherUpdateMixin, UpdateView):
    model = Account
    fields = ["name", "password"]
    template_name = "guard_tests/form.html"
    success_url = "/done/"


class ArticleCreate(PusherCreateMixin, CreateView):
    model = Article
    fields = ["title"]
    template_name = "guard_tests/form.html"
    success_url = reverse_lazy("guard-article-list")


class ArticleList(ListView):
    model = Article
    template_name = "guard_tests/article_list.html"


# An admin site of its own, so that registering here changes nothing for other tests.
site = admin.AdminSite(name="pusherable_admin")


@admin.register(Article, site=site)
class ArticleAdmin(PusherableAdminMixin, admin.ModelAdmin):
    fields = ["title", "body", "tags"]
    list_display = ["title", "updated_at"]
    actions = ["delete_selected"]


@admin.register(Tag, site=site)
class TagAdmin(PusherableAdminMixin, admin.ModelAdmin):
    pusher_collision_guard = False
    pusher_presence = False


@admin.register(Ticket, site=site)
class TicketAdmin(PusherableAdminMixin, admin.ModelAdmin):
    """Lock mode in the admin."""

    fields = ["subject"]
    pusher_edit_mode = "lock"
    pusher_lock_takeover_permission = "testapp.delete_ticket"


@admin.register(Account, site=site)
class AccountAdmin(PusherableAdminMixin, admin.ModelAdmin):
    fields = ["name", "password"]


urlpatterns = [
    path("pusherable/", include("pusherable.urls")),
    path("admin/", site.urls),
    path("articles/", ArticleList.as_view(), name="guard-article-list"),
    path("articles/new/", ArticleCreate.as_view(), name="guard-article-create"),
    path("articles/<int:pk>/edit/", ArticleEdit.as_view(), name="guard-article-edit"),
    path("articles/<int:pk>/locked/", LockedArticleEdit.as_view(), name="guard-article-locked"),
    path("articles/<int:pk>/by-hand/", ArticleEditByHand.as_view(), name="guard-article-hand"),
    path(
        "articles/<int:pk>/unguarded/",
        UnguardedArticleEdit.as_view(),
        name="guard-article-unguarded",
    ),
    path("articles/<int:pk>/quiet/", QuietListArticleEdit.as_view(), name="guard-article-quiet"),
    path("tags/<int:pk>/edit/", TagEdit.as_view(), name="guard-tag-edit"),
    path("documents/<path:pk>/edit/", DocumentEdit.as_view(), name="guard-document-edit"),
    path("accounts/<int:pk>/edit/", AccountEdit.as_view(), name="guard-account-edit"),
]
