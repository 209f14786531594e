"""``{{ invite|shown_name }}``: the candidate's name, or their alias on a blind assessment.

For the reviewer's templates, so a title or a heading is blind as written rather than only once
the finished page is scrubbed (portal.reviews.blind).
"""

from django import template

from portal.reviews import blind

register = template.Library()


@register.filter
def shown_name(invite) -> str:
    return blind.shown_name(invite)
