"""Models covering every field type a payload must serialize."""

import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.storage import FileSystemStorage
from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(blank=True)
    body = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    tags = models.ManyToManyField(Tag, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    reference = models.UUIDField(default=uuid.uuid4)
    published_on = models.DateField(null=True, blank=True)
    starts_at = models.TimeField(null=True, blank=True)
    reading_time = models.DurationField(null=True, blank=True)
    rating = models.FloatField(default=0.0)
    is_live = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    attachment = models.FileField(upload_to="attachments/", blank=True)
    cover = models.ImageField(upload_to="covers/", blank=True)
    api_token = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return f"/articles/{self.pk}/"


class Account(models.Model):
    """Holds the kinds of fields that must never leave the server by default."""

    name = models.CharField(max_length=100)
    password = models.CharField(max_length=128)
    secret_answer = models.CharField(max_length=100, blank=True)
    stripe_api_key = models.CharField(max_length=100, blank=True)
    access_token = models.CharField(max_length=100, blank=True)


class Document(models.Model):
    """A model whose primary key is free text, so channel names must encode it."""

    key = models.CharField(max_length=200, primary_key=True)
    content = models.TextField(blank=True)


class Ticket(models.Model):
    """A model with a UUID primary key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    subject = models.CharField(max_length=200)


class NoURLStorage(FileSystemStorage):
    """A storage that cannot give URLs, so payloads fall back to the file's name."""

    def url(self, name):
        raise NotImplementedError("This storage has no URLs.")


class Attachment(models.Model):
    """Files stored where no URL reaches them, and raw bytes."""

    file = models.FileField(upload_to="private/", storage=NoURLStorage(), blank=True)
    blob = models.BinaryField(editable=True, blank=True, default=b"")


class EmailUser(AbstractBaseUser):
    """A user model without a ``username`` field: its name is its e-mail address."""

    email = models.EmailField(unique=True)

    USERNAME_FIELD = "email"
