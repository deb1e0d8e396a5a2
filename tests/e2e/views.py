"""Pages of the end-to-end tests: a real UpdateView with the real template tags."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, Http404, HttpResponse
from django.urls import reverse_lazy
from django.views.generic import UpdateView

from pusherable.mixins import PusherUpdateMixin
from pusherable.presence import who_is_here
from tests.testapp.models import Article

ROOT = Path(__file__).resolve().parents[2]
PUSHER_JS = ROOT / "node_modules" / "pusher-js" / "dist" / "web" / "pusher.min.js"


class ArticlePage(PusherUpdateMixin, UpdateView):
    """An article with its edit form; the page declares ``page_intent`` on its presence channel.

    It does not check permissions itself, on purpose: the tests show that the
    channel authorization refuses a user the page would have let in.
    """

    model = Article
    fields = ["title"]
    template_name = "e2e/article.html"
    success_url = reverse_lazy("e2e-saved")
    page_intent: str | None = None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["page_intent"] = self.page_intent
        context["others_here"] = who_is_here(self.object, exclude=self.request.user)
        return context


def saved(request):
    """Where a save redirects: a page without pusherable, so it opens no connection."""
    return HttpResponse('<!doctype html><p id="saved">saved</p>')


def pusher_js(request):
    """pusher-js from the npm package: the tests never reach a CDN."""
    if not PUSHER_JS.is_file():
        raise Http404("pusher-js is not installed (npm ci)")
    return FileResponse(PUSHER_JS.open("rb"), content_type="text/javascript")
