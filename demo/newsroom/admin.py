"""The newsroom in Django's admin (``/admin/``: alice and bob may use it)."""

from django.contrib import admin

from .models import Article


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "section", "status", "author", "updated_at"]
    list_filter = ["status", "section"]
    search_fields = ["title", "standfirst", "body"]
