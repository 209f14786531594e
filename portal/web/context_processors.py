from django.db import DatabaseError
from django.urls import reverse

from portal.accounts.api_tokens import token_holder


def navigation(request) -> dict:
    """The navigation links the signed-in user's roles allow; templates only render them.

    The user is read from the database (the session, then the account): with the database down a
    page still renders, without links, rather than failing a second time. (The 500 page runs no
    context processor at all: portal/core/errors.py.)
    """
    user = getattr(request, "user", None)
    try:
        if user is None or not user.is_authenticated:
            return {"nav_links": []}
    except DatabaseError:
        return {"nav_links": []}
    links = []
    if user.has_perm("accounts.recruit"):
        links.append(("Candidates", reverse("recruiter_dashboard")))
    if user.has_perm("accounts.review"):
        links.append(("Reviews", reverse("review_queue")))
    if token_holder(user):
        links.append(("API tokens", reverse("api_tokens")))
    if user.is_staff:
        links.append(("Status", reverse("system_status")))
        links.append(("Webhooks", reverse("webhook_endpoints")))
        links.append(("Admin", reverse("admin:index")))
    return {"nav_links": links}
