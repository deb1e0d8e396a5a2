"""The POST data of the test app's article edit form, shared by the mixin and guard tests."""


def form_data(article, version=None, **changes):
    """The article's edit form as a browser posts it, unchanged unless told otherwise.

    ``version`` adds the collision guard's hidden version token.
    """
    data = {
        "title": article.title,
        "slug": article.slug,
        "body": article.body,
        "author": article.author_id or "",
        "tags": [tag.pk for tag in article.tags.all()],
        "price": "" if article.price is None else str(article.price),
        "reference": str(article.reference),
        "published_on": article.published_on.isoformat() if article.published_on else "",
        "starts_at": "",
        "reading_time": "",
        "rating": str(article.rating),
        "metadata": '{"lang": "en"}',
        # Fields whose model default is a callable carry their initial value in a
        # hidden input, which browsers post back (show_hidden_initial).
        "initial-reference": str(article.reference),
        "initial-metadata": '{"lang": "en"}',
    }
    if article.is_live:
        data["is_live"] = "on"
    if version is not None:
        data["pusherable_version"] = version
    data.update(changes)
    return data
