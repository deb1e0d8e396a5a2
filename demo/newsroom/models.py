"""The newsroom's one model: an article that several editors work on."""

from django.conf import settings
from django.db import models
from django.urls import reverse


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        REVIEW = "review", "In review"
        PUBLISHED = "published", "Published"

    class Section(models.TextChoices):
        NEWS = "news", "News"
        POLITICS = "politics", "Politics"
        BUSINESS = "business", "Business"
        SCIENCE = "science", "Science"
        CULTURE = "culture", "Culture"
        SPORT = "sport", "Sport"

    title = models.CharField(max_length=200)
    standfirst = models.CharField(
        max_length=300, blank=True, help_text="One or two sentences under the headline."
    )
    body = models.TextField()
    section = models.CharField(max_length=20, choices=Section.choices, default=Section.NEWS)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="articles",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("newsroom:article-detail", args=[self.pk])
