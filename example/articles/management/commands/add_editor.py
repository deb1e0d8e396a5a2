from getpass import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError

#: What an editor may do. `view` lets them open articles and listen to their
#: channels; `change` lets them edit, and declare that they are editing.
EDITOR_PERMISSIONS = ["view_article", "change_article"]


class Command(BaseCommand):
    help = "Create an editor (or update one): a user in the Editors group."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="The name the others see.")
        parser.add_argument("--password", help="Asked for when omitted.")

    def handle(self, *args, username, name, password, **options):
        editors, _ = Group.objects.get_or_create(name="Editors")
        editors.permissions.set(
            Permission.objects.filter(
                content_type__app_label="articles", codename__in=EDITOR_PERMISSIONS
            )
        )
        password = password or getpass(f"Password for {username}: ")
        if not password:
            raise CommandError("An editor needs a password.")
        user, created = get_user_model().objects.get_or_create(username=username)
        user.first_name = name or user.first_name
        user.set_password(password)
        user.save()
        user.groups.add(editors)
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} editor {username}.")
