"""The article form editors fill in."""

from django import forms

from .models import Article


class ArticleForm(forms.ModelForm):
    # Browsers send a textarea's line breaks as "\r\n": PusherUpdateMixin does
    # not count that alone as a change, so an untouched body is never named in
    # an "updated" event.
    class Meta:
        model = Article
        fields = ["title", "standfirst", "section", "status", "body"]
        widgets = {
            "standfirst": forms.Textarea(attrs={"rows": 2}),
            "body": forms.Textarea(attrs={"rows": 14}),
        }
