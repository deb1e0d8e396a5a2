"""URLs of the newsroom demo."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("newsroom.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    # Channel authorization, presence intent and webhooks of django-pusherable.
    path("pusherable/", include("pusherable.urls")),
    path("admin/", admin.site.urls),
]
