"""The guard tests' URLs, plus views with their own version field and payload rules,
for the catch-up endpoint tests (``tests/test_catchup.py``)."""

from django.urls import path

from tests.guard_urls import ArticleEdit
from tests.guard_urls import urlpatterns as guard_urlpatterns


class RatingVersionedEdit(ArticleEdit):
    """Versioned by a field of its own, with the body left out of its payloads."""

    pusher_version_field = "rating"
    pusher_exclude_model_fields = ["body"]


class BodylessEdit(ArticleEdit):
    """The model's version, with the body left out of its payloads."""

    pusher_exclude_model_fields = ["body"]


urlpatterns = [
    *guard_urlpatterns,
    path(
        "articles/<int:pk>/by-rating/", RatingVersionedEdit.as_view(), name="catchup-rating-edit"
    ),
    path("articles/<int:pk>/bodyless/", BodylessEdit.as_view(), name="catchup-bodyless-edit"),
]
