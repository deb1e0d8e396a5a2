"""The article form editors fill in."""

from django import forms

from .models import Article


class TextField(forms.CharField):
    """Text whose line breaks are stored as ``\n``.

    Browsers send a textarea's line breaks as ``\r\n``; without this, saving an
    untouched body would count as changing it, and every ``updated`` event would
    name the body among the changed fields.
    """

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n") if value else value


class ArticleForm(forms.ModelForm):
    class Meta:
        model = Article
        fields = ["title", "standfirst", "section", "status", "body"]
        field_classes = {"standfirst": TextField, "body": TextField}
        widgets = {
            "standfirst": forms.Textarea(attrs={"rows": 2}),
            "body": forms.Textarea(attrs={"rows": 14}),
        }
