"""``manage.py seed_demo``: the demo's users and a few articles, safe to run again."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from newsroom.models import Article

PASSWORD = "demo"

# username, first name, editor (staff, with every permission on articles)?
USERS = [
    ("alice", "Alice", True),
    ("bob", "Bob", True),
    ("carol", "Carol", False),
]

EDITOR_PERMISSIONS = ["view_article", "add_article", "change_article", "delete_article"]

ARTICLES = [
    {
        "title": "City council approves the riverside tram line",
        "standfirst": "Construction starts in spring; the first trams run in three years.",
        "section": Article.Section.POLITICS,
        "status": Article.Status.PUBLISHED,
        "author": "alice",
        "body": (
            "After a four-hour session the council voted 31 to 12 for the tram line "
            "along the river.\n\nThe route links the station to the university in "
            "eighteen minutes, with eleven stops."
        ),
    },
    {
        "title": "Local bakery wins the national bread prize",
        "standfirst": "A sourdough rye, fermented for two days, took the jury by surprise.",
        "section": Article.Section.BUSINESS,
        "status": Article.Status.REVIEW,
        "author": "bob",
        "body": (
            "The bakery on Mill Street opened six years ago with one oven.\n\n"
            "It now employs fourteen people and bakes through the night."
        ),
    },
    {
        "title": "Comet visible to the naked eye this weekend",
        "standfirst": "Look north-west an hour after sunset, away from city lights.",
        "section": Article.Section.SCIENCE,
        "status": Article.Status.DRAFT,
        "author": "alice",
        "body": (
            "The comet passes closest to the Sun on Friday and should be brightest "
            "on Saturday evening.\n\nBinoculars show its tail."
        ),
    },
]


class Command(BaseCommand):
    help = "Create the demo users (alice, bob, carol; password 'demo') and a few articles."

    @transaction.atomic
    def handle(self, *args, **options):
        users = {row[0]: self.ensure_user(*row) for row in USERS}
        created = 0
        for data in ARTICLES:
            _, was_created = Article.objects.get_or_create(
                title=data["title"],
                defaults={**data, "author": users[data["author"]]},
            )
            created += was_created
        self.stdout.write(f"Demo data ready: {len(users)} users, {created} new articles.")

    def ensure_user(self, username, first_name, is_editor):
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": first_name}
        )
        if not user.check_password(PASSWORD):
            user.set_password(PASSWORD)
        # Editors may also work in Django's admin, with the same permissions.
        user.is_staff = is_editor
        user.save()
        permissions = Permission.objects.filter(
            content_type__app_label="newsroom", codename__in=EDITOR_PERMISSIONS
        )
        if is_editor:
            user.user_permissions.add(*permissions)
        else:
            user.user_permissions.remove(*permissions)
        return user
