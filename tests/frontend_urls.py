"""A URLconf with stand-ins for the ``pusherable:`` endpoints, for the template tag tests.

The stand-ins only answer ``{"ok": true}`` to a POST that passes Django's CSRF check,
which is what the tests need to show the token the tag hands out works.
"""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_POST
from django.views.generic import DetailView

from tests.testapp.models import Article


@require_POST
def endpoint(request):
    return JsonResponse({"ok": True, "socket_id": request.headers.get("X-Socket-ID")})


class ArticlePage(DetailView):
    model = Article
    template_name = "pusherable_tests/article.html"


class ArticlePageWithChannels(ArticlePage):
    def get_pusher_channels(self):
        return [f"presence-custom_{self.object.pk}", f"private-custom_{self.object.pk}"]


endpoints = (
    [
        path("auth/", endpoint, name="auth"),
        path("user-auth/", endpoint, name="user-auth"),
        path("intent/", endpoint, name="intent"),
        path("changes/", endpoint, name="changes"),
        path("field/", endpoint, name="field"),
        path("lock/", endpoint, name="lock"),
    ],
    "pusherable",
)

urlpatterns = [
    path("pusherable/", include(endpoints)),
    path("articles/<int:pk>/", ArticlePage.as_view(), name="article"),
    path("custom/<int:pk>/", ArticlePageWithChannels.as_view(), name="article-custom"),
]
