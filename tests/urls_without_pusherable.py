"""A root URLconf that forgets ``pusherable.urls``, for the system check tests."""

urlpatterns: list = []
