"""The root URLconf, and the one place where apps are wired together.

Apps depend one way (pyproject.toml's layers). Where a lower app must reach a higher one it calls
a named hook (portal.core.hooks, listed in docs/architecture.md): the git endpoint (hosting) hands
every recorded push to ``hosting.push_recorded``, which scoring answers.
"""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from portal.web.metrics import metrics

admin.site.site_header = "Assessment Portal administration"
admin.site.site_title = "Assessment Portal"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("portal.accounts.urls")),
    path("", include("portal.assessments.urls")),
    path("", include("portal.hosting.urls")),
    path("", include("portal.reviews.urls")),
    path("", include("portal.webhooks.urls")),
    path("", include("portal.web.urls")),
    # The REST API, its schema and docs (portal/api, docs/api.md).
    path("api/", include("portal.api.urls")),
    # Greenhouse's Assessment Partner API (portal/ats).
    path("ats/", include("portal.ats.urls")),
    path("", include("portal.core.urls")),
    # Prometheus: the token or an internal request only, else 404 (portal/web/metrics.py).
    path("metrics", metrics, name="metrics"),
    # Browsers ask for /favicon.ico whatever the page links; the SVG icon answers (its static URL is
    # looked up per request: the hashed name exists only once collectstatic has run).
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("portal/favicon.svg")), name="favicon"),
]

# The portal's own error pages; portal.core.errors.ErrorPagesMiddleware shows them with DEBUG on too.
handler403 = "portal.core.errors.permission_denied"
handler404 = "portal.core.errors.page_not_found"
handler500 = "portal.core.errors.server_error"
