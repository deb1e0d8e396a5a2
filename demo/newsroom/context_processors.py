"""Template context shared by the newsroom's pages."""

from .models import Article


def article_choices(request):
    """The labels of the article's choice fields, for the page's JavaScript.

    An ``updated`` event carries stored values (``"review"``); the page shows
    labels ("In review"), as the server-rendered page does.
    """
    return {
        "article_choices": {
            "section": dict(Article.Section.choices),
            "status": dict(Article.Status.choices),
        }
    }
