"""Reads of webhook endpoints and their delivery logs, for the pages and the API."""

from django.db.models import OuterRef, QuerySet, Subquery

from portal.webhooks.models import WebhookDelivery, WebhookEndpoint

IN_FLIGHT = (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.DELIVERING, WebhookDelivery.Status.FAILED)


def endpoints_list() -> QuerySet[WebhookEndpoint]:
    """Every endpoint with its last delivery's status and time (``last_status``, ``last_at``): one query."""
    last = WebhookDelivery.objects.filter(endpoint=OuterRef("pk")).order_by("-id")
    return WebhookEndpoint.objects.annotate(
        last_status=Subquery(last.values("status")[:1]), last_at=Subquery(last.values("created_at")[:1])
    ).order_by("id")


def endpoint_deliveries(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery log, newest first."""
    return WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-id")


def endpoint_in_flight(*, endpoint: WebhookEndpoint) -> bool:
    """Whether a delivery of the endpoint may still change by itself (its log is worth asking again)."""
    return WebhookDelivery.objects.filter(endpoint=endpoint, status__in=IN_FLIGHT).exists()
