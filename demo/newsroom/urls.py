"""URLs of the newsroom app."""

from django.urls import path

from . import views

app_name = "newsroom"

urlpatterns = [
    path("", views.ArticleListView.as_view(), name="article-list"),
    path("articles/new/", views.ArticleCreateView.as_view(), name="article-create"),
    path("articles/<int:pk>/", views.ArticleDetailView.as_view(), name="article-detail"),
    path("articles/<int:pk>/edit/", views.ArticleUpdateView.as_view(), name="article-update"),
    path(
        "articles/<int:pk>/edit-alone/",
        views.ArticleLockedUpdateView.as_view(),
        name="article-update-locked",
    ),
    path("articles/<int:pk>/delete/", views.ArticleDeleteView.as_view(), name="article-delete"),
]
