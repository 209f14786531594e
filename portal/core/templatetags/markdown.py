"""``{{ text|markdown }}``: text someone wrote (a candidate's pull request), rendered and sanitised."""

from django import template
from django.utils.safestring import mark_safe

from portal.core.markdown import markdown_html

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    # nh3 keeps only the tags and attributes portal.core.markdown allows: the output is safe.
    return mark_safe(markdown_html(text or ""))  # noqa: S308
