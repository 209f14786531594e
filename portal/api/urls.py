"""/api/: the REST API (v1), its OpenAPI 3 schema and the schema browser (assets served by the portal)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal.api import views

app_name = "api"

v1 = [
    path("me", views.me, name="me"),
    # Assessments, candidates, invites and their actions, tokens.
    path("", include("portal.api.urls_pipeline")),
    # Runs and ticket results, findings, pull requests, reviews, events.
    path("", include("portal.api.urls_results")),
    # Webhook endpoints and their deliveries.
    path("", include("portal.api.urls_webhooks")),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from the drf-spectacular-sidecar wheel; its start script is a separate response
    # (the split view), so the page runs under the portal's Content-Security-Policy unchanged.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
]
