"""URLconf of the end-to-end tests: the test pages, pusher-js, and ``pusherable.urls``."""

from django.urls import include, path

from tests.e2e import views
from tests.readme import readme_view

urlpatterns = [
    path("e2e/articles/<int:pk>/", views.ArticlePage.as_view(), name="e2e-article"),
    path(
        "e2e/articles/<int:pk>/edit/",
        views.ArticlePage.as_view(page_intent="editing"),
        name="e2e-article-edit",
    ),
    path("e2e/readme/<int:pk>/", readme_view().as_view(), name="e2e-readme"),
    path("e2e/saved/", views.saved, name="e2e-saved"),
    path("e2e/pusher.min.js", views.pusher_js, name="e2e-pusher-js"),
    path("pusherable/", include("pusherable.urls")),
]
