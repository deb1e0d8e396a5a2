"""A small newsroom CMS: articles that editors see each other working on."""
