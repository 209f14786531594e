"""Administrators' pages for webhooks: endpoints, their secret, and each one's delivery log."""

import json
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.accounts.decorators import staff_required
from portal.webhooks import selectors, services
from portal.webhooks.forms import EndpointForm
from portal.webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookEndpoint

LOG_PAGE_SIZE = 25
LIVE_WITHIN_SECONDS = 60


@staff_required
@never_cache
@require_GET
def endpoint_list(request):
    return render(request, "webhooks/endpoint_list.html", {"endpoints": selectors.endpoints_list()})


@staff_required
@never_cache
@require_http_methods(["GET", "POST"])
def endpoint_new(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_create(**form.cleaned_data, by=request.user)
        except services.EndpointInvalid as exc:
            form.add_error(exc.field, str(exc))
        else:
            messages.success(request, "The endpoint was added. Its signing secret is below: give it to the receiver.")
            return redirect("webhook_endpoint_secret_shown", endpoint.pk)
    return render(request, "webhooks/endpoint_form.html", {"form": form, "event_types": EVENT_TYPES})


def _detail(request, endpoint: WebhookEndpoint, *, form=None, secret_shown: bool = False, status: int = 200):
    form = form or EndpointForm(
        initial={
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": endpoint.event_types,
            "active": endpoint.active,
        }
    )
    context = {
        "endpoint": endpoint,
        "form": form,
        "event_types": EVENT_TYPES,
        "secret_shown": secret_shown,
        **_log_context(request, endpoint),
    }
    return render(request, "webhooks/endpoint_detail.html", context, status=status)


def _log_context(request, endpoint: WebhookEndpoint) -> dict:
    page = Paginator(selectors.endpoint_deliveries(endpoint=endpoint), LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    # Asked again while an attempt is near: not for hours while a failed delivery waits out its backoff.
    soon = timezone.now() + timedelta(seconds=LIVE_WITHIN_SECONDS)
    in_flight = any(d.in_flight and (d.next_attempt_at is None or d.next_attempt_at <= soon) for d in page)
    return {"endpoint": endpoint, "page": page, "in_flight": in_flight}


@staff_required
@never_cache
@require_http_methods(["GET", "POST"])
def endpoint_detail(request, endpoint_id: int):
    """The endpoint's settings (a POST saves them), its secret, test and delete, and its delivery log."""
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    if request.method == "GET":
        return _detail(request, endpoint)
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            services.endpoint_update(endpoint=endpoint, by=request.user, **form.cleaned_data)
        except services.EndpointInvalid as exc:
            form.add_error(exc.field, str(exc))
        else:
            messages.success(request, "The endpoint was saved.")
            return redirect("webhook_endpoint", endpoint.pk)
    endpoint.refresh_from_db()
    return _detail(request, endpoint, form=form, status=400)


@staff_required
@never_cache
@require_http_methods(["GET", "POST"])
def endpoint_secret_shown(request, endpoint_id: int):
    """The endpoint's page with its secret in view: asked for with the Reveal button, or just after the
    endpoint was made (never cached)."""
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    return _detail(request, endpoint, secret_shown=True)


@staff_required
@require_POST
def endpoint_secret_rotate(request, endpoint_id: int):
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    services.endpoint_secret_rotate(endpoint=endpoint)
    messages.success(request, "A new secret signs every webhook from now on; the old one no longer verifies.")
    return _detail(request, endpoint, secret_shown=True)


@staff_required
@require_POST
def endpoint_test(request, endpoint_id: int):
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    services.endpoint_test_send(endpoint=endpoint, by=request.user)
    messages.success(request, "A webhook.test event is on its way; its delivery is at the top of the log.")
    return redirect("webhook_endpoint", endpoint.pk)


@staff_required
@never_cache
@require_http_methods(["GET", "POST"])
def endpoint_delete(request, endpoint_id: int):
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    if request.method == "POST":
        services.endpoint_delete(endpoint=endpoint)
        messages.success(request, f"The endpoint {endpoint.url} and its delivery log were deleted.")
        return redirect("webhook_endpoints")
    return render(request, "webhooks/endpoint_delete.html", {"endpoint": endpoint})


@staff_required
@never_cache
@require_GET
def endpoint_log(request, endpoint_id: int):
    """The delivery log alone: the endpoint's page asks for it every few seconds while a delivery is in flight."""
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    return render(request, "webhooks/_deliveries.html", _log_context(request, endpoint))


@staff_required
@never_cache
@require_GET
def delivery_detail(request, endpoint_id: int, delivery_id: int):
    delivery = get_object_or_404(
        WebhookDelivery.objects.select_related("endpoint"), pk=delivery_id, endpoint_id=endpoint_id
    )
    payload_text = json.dumps(delivery.payload, indent=2, ensure_ascii=False)
    context = {"delivery": delivery, "endpoint": delivery.endpoint, "payload_text": payload_text}
    return render(request, "webhooks/delivery_detail.html", context)


@staff_required
@require_POST
def delivery_redeliver(request, endpoint_id: int, delivery_id: int):
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, endpoint_id=endpoint_id)
    try:
        services.delivery_redeliver(delivery=delivery)
    except services.DeliveryRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Message {delivery.msg_id} will be sent again, with the same webhook-id.")
    return redirect("webhook_delivery", endpoint_id, delivery_id)
