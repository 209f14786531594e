from django.urls import reverse


def navigation(request) -> dict:
    """The navigation links the signed-in user's roles allow; templates only render them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_links": []}
    links = []
    if user.has_perm("accounts.recruit"):
        links.append(("Candidates", reverse("recruiter_dashboard")))
    if user.has_perm("accounts.review"):
        links.append(("Reviews", reverse("review_queue")))
    if user.is_staff:
        links.append(("Status", reverse("system_status")))
        links.append(("Admin", reverse("admin:index")))
    return {"nav_links": links}
