"""pytest plugin of django-pusherable, registered through the ``pytest11`` entry point.

It must import without Django settings configured: fixtures import lazily.
"""
