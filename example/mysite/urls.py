"""
URL configuration for mysite project.

The `urlpatterns` list routes URLs to views. For more information please see:
    https://docs.djangoproject.com/en/5.2/topics/http/urls/
"""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Log in and out: the editors' pages need a user.
    path("accounts/", include("django.contrib.auth.urls")),
    # Channel authorization, presence intent and webhooks.
    path("pusherable/", include("pusherable.urls")),
    path("", include("articles.urls")),
]
