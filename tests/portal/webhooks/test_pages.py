"""The administrators' webhook pages: endpoints made, changed, tested and deleted; the secret revealed
and rotated; the delivery log and Redeliver; refused inputs shown on the form; nobody else gets in."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.webhooks.models import WebhookDelivery, WebhookEndpoint
from portal.webhooks.services import endpoint_create, endpoint_test_send


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    "name", ["webhook_endpoints", "webhook_endpoint_new", "webhook_endpoint", "webhook_endpoint_delete"]
)
def test_a_recruiter_is_refused_every_page(client, recruiter, endpoint, name):
    client.force_login(recruiter)
    args = [endpoint.pk] if name not in ("webhook_endpoints", "webhook_endpoint_new") else []
    assert client.get(reverse(name, args=args)).status_code == 403
    assert client.post(reverse("webhook_endpoint_rotate", args=[endpoint.pk])).status_code == 403
    endpoint.refresh_from_db()
    assert WebhookEndpoint.objects.get().secret == endpoint.secret


def test_an_anonymous_visitor_is_sent_to_sign_in(client, db):
    response = client.get(reverse("webhook_endpoints"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_administrator_adds_an_endpoint_and_sees_its_secret(admin, allow_private, receiver):
    response = admin.post(
        reverse("webhook_endpoint_new"),
        {"url": receiver.url, "description": "ATS", "event_types": ["invite.opened", "run.completed"], "active": "on"},
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["invite.opened", "run.completed"] and endpoint.active
    page = response.content.decode()
    assert endpoint.secret in page and "Its signing secret is below" in page
    listing = admin.get(reverse("webhook_endpoints")).content.decode()
    assert receiver.url in listing and "run.completed" in listing and endpoint.secret not in listing
    assert "Webhooks" in listing  # the navigation link


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"url": "http://127.0.0.1:9/x"}, "127.0.0.1 is a loopback address"),
        ({"url": "ftp://example.com/x"}, "Only http:// and https://"),
        ({"url": "http://u:p@93.184.215.14/"}, "user name or password"),
        ({"url": ""}, "This field is required."),
        ({"url": "http://93.184.215.14/", "event_types": ["invite.deleted"]}, "not one of the available choices"),
        ({"url": "http://93.184.215.14/", "description": "d" * 201}, "at most 200 characters"),
    ],
)
def test_a_wrong_form_is_shown_again_with_its_error(admin, settings, fields, says):
    settings.PORTAL_BASE_URL = "https://portal.test"
    response = admin.post(reverse("webhook_endpoint_new"), fields)
    page = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 200 and says in page and "Nothing was saved" in page
    assert not WebhookEndpoint.objects.exists()


def test_editing_turns_an_endpoint_off_and_a_bad_url_keeps_the_old_one(admin, endpoint, settings):
    url = reverse("webhook_endpoint", args=[endpoint.pk])
    response = admin.post(url, {"url": endpoint.url, "event_types": ["push.received"]})
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.event_types == ["push.received"] and "by ada" in endpoint.disabled_reason
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    response = admin.post(url, {"url": "http://169.254.169.254/", "active": "on"})
    assert response.status_code == 400 and "link-local" in response.content.decode()
    assert WebhookEndpoint.objects.get().url == endpoint.url


def test_the_secret_is_hidden_until_revealed_and_rotation_replaces_it(admin, endpoint):
    page = admin.get(reverse("webhook_endpoint", args=[endpoint.pk])).content.decode()
    assert endpoint.secret not in page and "Reveal secret" in page
    assert endpoint.secret in admin.post(reverse("webhook_endpoint_secret_shown", args=[endpoint.pk])).content.decode()
    page = admin.post(reverse("webhook_endpoint_rotate", args=[endpoint.pk])).content.decode()
    new = WebhookEndpoint.objects.get().secret
    assert new != endpoint.secret and new in page and endpoint.secret not in page


def test_send_test_event_and_redeliver_from_the_log(admin, endpoint, receiver, broker):
    with broker.commit():
        admin.post(reverse("webhook_endpoint_test", args=[endpoint.pk]))
    broker.run()
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "webhook.test" and delivery.status == WebhookDelivery.Status.DELIVERED
    log = admin.get(reverse("webhook_endpoint_log", args=[endpoint.pk])).content.decode()
    assert "webhook.test" in log and "Delivered" in log and "hx-trigger" not in log  # nothing left to follow
    detail = admin.get(reverse("webhook_delivery", args=[endpoint.pk, delivery.pk])).content.decode()
    assert delivery.msg_id in detail and "answer 200" in detail and "A test event" in detail
    with broker.commit():
        response = admin.post(reverse("webhook_delivery_redeliver", args=[endpoint.pk, delivery.pk]))
    assert response.status_code == 302
    broker.run()
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.msg_id] * 2


def test_the_log_follows_deliveries_in_flight(admin, endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        endpoint_test_send(endpoint=endpoint)
    log = admin.get(reverse("webhook_endpoint_log", args=[endpoint.pk])).content.decode()
    assert 'hx-trigger="every 5s"' in log and "Pending" in log


def test_redeliver_of_another_endpoints_delivery_is_not_found(admin, endpoint, allow_private, receiver):
    other = endpoint_create(url=receiver.url, event_types=[])
    delivery = endpoint_test_send(endpoint=endpoint)
    assert admin.post(reverse("webhook_delivery_redeliver", args=[other.pk, delivery.pk])).status_code == 404
    assert admin.get(reverse("webhook_delivery", args=[other.pk, delivery.pk])).status_code == 404


def test_deleting_an_endpoint_asks_first(admin, endpoint):
    url = reverse("webhook_endpoint_delete", args=[endpoint.pk])
    assert "Delete this endpoint?" in admin.get(url).content.decode()
    assert admin.post(url).status_code == 302 and not WebhookEndpoint.objects.exists()


def test_the_log_stops_asking_while_a_failure_waits_out_its_backoff(
    admin, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        delivery = endpoint_test_send(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.FAILED, attempts=3, next_attempt_at=timezone.now() + timedelta(hours=2)
    )
    log = admin.get(reverse("webhook_endpoint_log", args=[endpoint.pk])).content.decode()
    assert "Failed (will retry)" in log and "hx-trigger" not in log
