"""A Django project run as several processes sharing one database and one cache."""
