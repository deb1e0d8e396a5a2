from django.urls import include, path
from django.views.generic import ListView

from tests.testapp import views
from tests.testapp.models import Article

urlpatterns: list = [
    # Views of the mixins' tests (tests/test_mixins.py).
    path("articles/", ListView.as_view(model=Article), name="article-list"),
    path("articles/new/", views.ArticleCreateView.as_view(), name="article-create"),
    path("articles/<int:pk>/", views.ArticleDetailView.as_view(), name="article-detail"),
    path("articles/<int:pk>/edit/", views.ArticleUpdateView.as_view(), name="article-update"),
    path(
        "articles/<int:pk>/edit-prefetched/",
        views.PrefetchedArticleUpdateView.as_view(),
        name="article-update-prefetched",
    ),
    path(
        "articles/<int:pk>/edit-newsroom/",
        views.NewsroomArticleUpdateView.as_view(),
        name="article-update-newsroom",
    ),
    path("articles/<int:pk>/delete/", views.ArticleDeleteView.as_view(), name="article-delete"),
    path("articles/<int:pk>/preview/", views.ArticlePreviewView.as_view(), name="article-preview"),
    path("articles/<int:pk>/summary/", views.ArticleSummaryView.as_view(), name="article-summary"),
    path(
        "articles/<int:pk>/without-body/",
        views.ArticleWithoutBodyView.as_view(),
        name="article-without-body",
    ),
    path("articles/<int:pk>/stats/", views.ArticleStatsView.as_view(), name="article-stats"),
    path(
        "articles/<int:pk>/custom/", views.CustomHooksArticleView.as_view(), name="article-custom"
    ),
    path("articles/<int:pk>/chatty/", views.ChattyArticleView.as_view(), name="article-chatty"),
    path(
        "articles/<int:pk>/broken/",
        views.BrokenPayloadArticleView.as_view(),
        name="article-broken",
    ),
    path("accounts/<int:pk>/", views.AccountDetailView.as_view(), name="account-detail"),
    path(
        "accounts/<int:pk>/with-password/",
        views.AccountWithPasswordView.as_view(),
        name="account-with-password",
    ),
    path("documents/<path:pk>/", views.DocumentDetailView.as_view(), name="document-detail"),
    path("tickets/<uuid:pk>/", views.TicketDetailView.as_view(), name="ticket-detail"),
    path(
        "tickets/<uuid:pk>/presence/",
        views.PresenceTicketView.as_view(),
        name="ticket-presence",
    ),
    path("pusherable/", include("pusherable.urls")),
]
