from django.urls import include, path

urlpatterns: list = [
    path("pusherable/", include("pusherable.urls")),
]
