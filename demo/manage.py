#!/usr/bin/env python
"""Django's command-line utility for the newsroom demo."""

import os
import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent

if __name__ == "__main__":
    # The demo runs against the checkout's own ``pusherable`` package, installed or not.
    sys.path[:0] = [str(DEMO_DIR), str(DEMO_DIR.parent)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsroom_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
