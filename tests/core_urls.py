"""The page of the live tests of pusherable.js's core (``tests/live/test_core_browser.py``).

An article's page with the README's tags: ``{% pusherable_script %}`` and several
``{% pusherable_subscribe %}`` on the article's presence and private channels. The
rest of the URLs are those of :mod:`tests.guard_urls` (``pusherable.urls`` among them).
"""

from django.urls import path
from django.views.generic import DetailView

from tests.guard_urls import urlpatterns as guard_urlpatterns
from tests.testapp.models import Article


class CorePage(DetailView):
    """``?intent=editing`` declares another intent than ``viewing``."""

    model = Article
    template_name = "core_tests/page.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["intent"] = self.request.GET.get("intent", "viewing")
        return context


urlpatterns = [*guard_urlpatterns, path("core/<int:pk>/", CorePage.as_view(), name="core-page")]
