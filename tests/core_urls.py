"""The page of the live tests of pusherable.js's core (``tests/live/test_core_browser.py``).

An article's page with the README's tags: ``{% pusherable_script %}`` and several
``{% pusherable_subscribe %}`` on the article's presence and private channels. The
rest of the URLs are those of :mod:`tests.guard_urls` (``pusherable.urls`` among them).
"""

from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse
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


def log_in(request: HttpRequest, username: str) -> HttpResponse:
    """Sign the browser in as ``username``: the tests' shortcut, so that only Django's
    own thread writes the session (SQLite locks the table against two writers)."""
    user = get_user_model().objects.get(username=username)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse("Signed in.")


urlpatterns = [
    *guard_urlpatterns,
    path("core/<int:pk>/", CorePage.as_view(), name="core-page"),
    path("core/login/<str:username>/", log_in, name="core-login"),
]
