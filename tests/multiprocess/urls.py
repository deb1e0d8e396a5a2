"""URLs of the multi-process project: the e2e article pages, pusherable, and a state view."""

from django.http import JsonResponse
from django.urls import include, path

from pusherable.history import object_history
from pusherable.presence import who_is_here
from tests.e2e import views
from tests.testapp.models import Article


def state(request, pk):
    """What this process knows: who is here (from webhooks) and the change history."""
    article = Article.objects.get(pk=pk)
    return JsonResponse(
        {
            "here": [[m.id, m.intent] for m in who_is_here(article, source="webhooks")],
            "history": [[c.user, c.fields] for c in object_history(Article, pk)],
        }
    )


urlpatterns = [
    path("e2e/articles/<int:pk>/edit/", views.ArticlePage.as_view(), name="e2e-article-edit"),
    path("e2e/saved/", views.saved, name="e2e-saved"),
    path("state/<int:pk>/", state, name="state"),
    path("pusherable/", include("pusherable.urls")),
]
