"""WSGI entry point of the newsroom demo."""

import os
import sys
from pathlib import Path

from django.core.wsgi import get_wsgi_application

DEMO_DIR = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(DEMO_DIR), str(DEMO_DIR.parent)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsroom_project.settings")

application = get_wsgi_application()
