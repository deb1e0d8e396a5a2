"""The newsroom demo of django-pusherable: a Django project run by ``make demo``."""
