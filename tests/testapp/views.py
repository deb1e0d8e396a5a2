"""Real class-based views using every mixin, for the test suite."""

from django.shortcuts import get_object_or_404
from django.urls import reverse_lazy
from django.views.generic import CreateView, DeleteView, DetailView, TemplateView, UpdateView

from pusherable.channels import channel_for_model
from pusherable.mixins import (
    PusherCreateMixin,
    PusherDeleteMixin,
    PusherDetailMixin,
    PusherMixin,
    PusherUpdateMixin,
)

from .models import Account, Article, Document, Ticket

ARTICLE_FORM_FIELDS = [
    "title",
    "slug",
    "body",
    "author",
    "tags",
    "price",
    "reference",
    "published_on",
    "starts_at",
    "reading_time",
    "rating",
    "is_live",
    "metadata",
    "attachment",
    "cover",
]


class ArticleDetailView(PusherDetailMixin, DetailView):
    model = Article


class ArticleUpdateView(PusherUpdateMixin, UpdateView):
    model = Article
    fields = ARTICLE_FORM_FIELDS
    success_url = reverse_lazy("article-list")


class PrefetchedArticleUpdateView(ArticleUpdateView):
    """Loads the tags with prefetch_related(), as a real admin-like page would."""

    queryset = Article.objects.prefetch_related("tags")


class NewsroomArticleUpdateView(ArticleUpdateView):
    """Saves also go to the model's channel; slug edits are not worth an event."""

    pusher_event_name = None  # nothing when the form renders

    def get_pusher_channels_for(self, event):
        channels = super().get_pusher_channels_for(event)
        if event == self.pusher_updated_event_name:
            channels.append(channel_for_model(Article))
        return channels

    def get_pusher_changed_fields(self, form):
        return [name for name in super().get_pusher_changed_fields(form) if name != "slug"]


class ArticleCreateView(PusherCreateMixin, CreateView):
    model = Article
    fields = ARTICLE_FORM_FIELDS
    success_url = reverse_lazy("article-list")


class ArticleDeleteView(PusherDeleteMixin, DeleteView):
    model = Article
    success_url = reverse_lazy("article-list")


class ArticlePreviewView(PusherMixin, DetailView):
    """The original API: a plain PusherMixin with a custom event name, sent on render."""

    model = Article
    pusher_event_name = "preview"
    template_name = "testapp/article_detail.html"


class ArticleSummaryView(PusherDetailMixin, DetailView):
    model = Article
    template_name = "testapp/article_detail.html"
    pusher_include_model_fields = ["title", "tags"]


class ArticleWithoutBodyView(PusherDetailMixin, DetailView):
    model = Article
    template_name = "testapp/article_detail.html"
    pusher_exclude_model_fields = ["body", "metadata"]


class ArticleStatsView(PusherMixin, TemplateView):
    """Not a SingleObjectMixin view: it only sets self.object itself."""

    template_name = "testapp/article_detail.html"
    pusher_event_name = "stats"

    def get(self, request, *args, **kwargs):
        self.object = get_object_or_404(Article, pk=kwargs["pk"])
        return super().get(request, *args, **kwargs)


class CustomHooksArticleView(PusherDetailMixin, DetailView):
    """Every hook overridden, as a project would."""

    model = Article
    template_name = "testapp/article_detail.html"

    def get_pusher_event_name(self):
        return "opened"

    def get_pusher_channels(self):
        return [*super().get_pusher_channels(), "private-newsroom"]

    def get_pusher_payload(self, event):
        payload = super().get_pusher_payload(event)
        payload["headline"] = self.object.title.upper()
        return payload

    def should_send_pusher_event(self, event):
        return super().should_send_pusher_event(event) and self.object.is_live

    def get_pusher_user(self):
        return None  # anonymous on purpose, whoever is logged in

    def get_pusher_socket_id(self):
        return "1.1"


class ChattyArticleView(PusherDetailMixin, DetailView):
    """Tries to send the same event twice in one request."""

    model = Article
    template_name = "testapp/article_detail.html"

    def get_context_data(self, **kwargs):
        self.send_pusher_event("view")
        return super().get_context_data(**kwargs)


class BrokenPayloadArticleView(PusherDetailMixin, DetailView):
    model = Article
    template_name = "testapp/article_detail.html"

    def get_pusher_payload(self, event):
        raise RuntimeError("a bug in a project's payload hook")


class AccountDetailView(PusherDetailMixin, DetailView):
    model = Account


class AccountWithPasswordView(PusherDetailMixin, DetailView):
    model = Account
    pusher_include_model_fields = ["name", "password"]


class DocumentDetailView(PusherDetailMixin, DetailView):
    model = Document


class TicketDetailView(PusherDetailMixin, DetailView):
    model = Ticket


class PresenceTicketView(PusherDetailMixin, DetailView):
    model = Ticket
    template_name = "testapp/ticket_detail.html"
    pusher_channel_type = "presence"
