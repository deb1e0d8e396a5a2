"""URLconf of the README tests: step 1's view and ``pusherable.urls``, nothing else."""

from django.urls import include, path

from tests.readme import readme_view

urlpatterns = [
    path("articles/<int:pk>/edit/", readme_view().as_view(), name="readme-article-edit"),
    path("pusherable/", include("pusherable.urls")),
]
