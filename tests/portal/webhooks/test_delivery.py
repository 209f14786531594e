"""Deliveries reach a real receiver on loopback, signed per Standard Webhooks; failures are retried on
the schedule with the same webhook-id, and end delivered or given up; nothing is lost to a broker outage."""

import logging
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone
from kombu.exceptions import OperationalError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from portal.invites.services import invite_opened_record
from portal.webhooks.models import WebhookDelivery
from portal.webhooks.services import (
    SEND_GRACE,
    deliveries_sweep,
    delivery_attempt,
    delivery_redeliver,
    endpoint_create,
    endpoint_secret_rotate,
    endpoint_test_send,
)

pytestmark = pytest.mark.engines
Status = WebhookDelivery.Status


def _open(invite, broker) -> WebhookDelivery:
    with broker.commit():
        invite_opened_record(invite=invite)
    return WebhookDelivery.objects.get(event_type="invite.opened")


def test_an_opened_invite_reaches_the_receiver_signed(endpoint, receiver, invite, broker):
    _open(invite, broker)
    broker.run()
    [got] = receiver.received
    payload = Webhook(endpoint.secret).verify(got.body, got.headers)
    assert payload["type"] == "invite.opened" and payload["timestamp"].endswith("Z")
    data = payload["data"]
    assert data["invite"] == invite.public_id and data["candidate"]["name"] == "Ann Example"
    assert data["report_url"].endswith(f"/reviews/invites/{invite.public_id}/")
    assert data["api_url"].endswith(f"/api/v1/invites/{invite.public_id}")
    assert got.headers["content-type"] == "application/json" and got.headers["user-agent"].startswith(
        "AssessmentPortal"
    )
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (Status.DELIVERED, 1, 200)
    assert got.headers["webhook-id"] == delivery.msg_id and delivery.msg_id.startswith("msg_")


def test_the_payload_carries_no_token_or_secret(endpoint, receiver, created, broker):
    _open(created.invite, broker)
    broker.run()
    body = receiver.received[0].body.decode()
    for secret in (created.link_token, created.git_token, endpoint.secret):
        assert secret not in body


def test_a_receiver_that_fails_once_gets_the_same_message_again(endpoint, receiver, invite, broker, settings):
    settings.PORTAL_WEBHOOKS_RETRY_SECONDS = [0, 0]
    receiver.answers = [500, 200]
    _open(invite, broker)
    broker.run()
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    Webhook(endpoint.secret).verify(second.body, second.headers)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code, delivery.error) == (
        Status.DELIVERED, 2, 200, ""
    )  # fmt: skip


def test_a_receiver_that_never_accepts_is_given_up_after_the_schedule(endpoint, receiver, invite, broker, settings):
    settings.PORTAL_WEBHOOKS_RETRY_SECONDS = [0, 0]
    receiver.answers = [503]
    _open(invite, broker)
    broker.run()
    delivery = WebhookDelivery.objects.get()
    assert len(receiver.received) == 3 and delivery.attempts == 3
    assert delivery.status == Status.GAVE_UP and delivery.next_attempt_at is None
    assert delivery.response_code == 503 and "503" in delivery.error and delivery.response_excerpt == "answer 503"


def test_a_failed_attempt_waits_for_its_backoff(endpoint, receiver, invite, broker):
    receiver.answers = [500]
    _open(invite, broker)
    broker.run()  # the retry is due in 5 s: its task finds it not due yet
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.FAILED and len(receiver.received) == 1
    assert timedelta(seconds=4) < delivery.next_attempt_at - delivery.last_attempt_at <= timedelta(seconds=6)
    assert delivery_attempt(delivery_id=delivery.pk) is None and len(receiver.received) == 1


def test_a_redirect_is_a_failure_and_is_not_followed(endpoint, receiver, invite, broker):
    receiver.answers = ["redirect"]
    _open(invite, broker)
    broker.run()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.FAILED and delivery.response_code == 302
    assert "not followed" in delivery.error and len(receiver.received) == 1


def test_a_receiver_that_hangs_ends_the_attempt_at_the_timeout(endpoint, receiver, invite, broker, settings):
    settings.PORTAL_WEBHOOKS_TIMEOUT = 1
    receiver.answers = ["hang"]  # for 30 s
    _open(invite, broker)
    broker.run()
    delivery = WebhookDelivery.objects.get()
    # The attempt's own limit ended it (no answer code: the receiver, holding it for 30 s, never answered).
    assert delivery.status == Status.FAILED and delivery.response_code is None
    assert delivery.error.startswith("No complete answer within 1 s") and len(delivery.error) < 100


def test_an_endless_body_is_read_no_further_than_the_excerpt(endpoint, receiver, invite, broker):
    receiver.answers = ["huge"]
    _open(invite, broker)
    broker.run()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.DELIVERED and delivery.response_excerpt == "x" * 1024


def test_rotating_the_secret_changes_the_signature(endpoint, receiver, broker):
    old = endpoint.secret
    with broker.commit():
        endpoint_test_send(endpoint=endpoint)
    broker.run()
    endpoint = endpoint_secret_rotate(endpoint=endpoint)
    with broker.commit():
        endpoint_test_send(endpoint=endpoint)
    broker.run()
    before, after = receiver.received
    Webhook(old).verify(before.body, before.headers)
    Webhook(endpoint.secret).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)
    assert before.headers["webhook-signature"].startswith("v1,") and endpoint.secret.startswith("whsec_")


def test_redeliver_sends_the_same_message_again(endpoint, receiver, invite, broker):
    delivery = _open(invite, broker)
    broker.run()
    with broker.commit():
        delivery_redeliver(delivery=delivery)
    broker.run()
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED and delivery.attempts == 2


def test_a_delivery_is_never_sent_twice_at_once(endpoint, receiver, invite, broker):
    delivery = _open(invite, broker)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.DELIVERING, lease_until=timezone.now() + timedelta(minutes=1)
    )
    assert broker.run() == ["webhooks.deliver"]  # its task finds the row claimed
    assert receiver.received == [] and deliveries_sweep().lost == 0


def test_a_delivery_written_while_the_broker_is_down_is_sent_by_the_sweep(
    endpoint, receiver, invite, broker, monkeypatch, caplog
):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as down, caplog.at_level(logging.WARNING, logger="portal.core.dispatch"):
        down.setattr(current_app, "send_task", refuse)
        delivery = _open(invite, broker)  # nothing raised into the event's writer
    assert "could not send task webhooks.deliver" in caplog.text
    assert broker.tasks == [] and delivery.status == Status.PENDING
    assert deliveries_sweep().sent == 0  # just written: its own task may be on its way
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - SEND_GRACE * 2)
    with broker.commit():
        assert deliveries_sweep().sent == 1
    broker.run()
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED and len(receiver.received) == 1


def test_an_attempt_lost_with_its_worker_is_made_again_by_the_sweep(endpoint, receiver, invite, broker):
    delivery = _open(invite, broker)
    broker.tasks.clear()  # its task was lost with the worker that took it
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.DELIVERING, attempts=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    with broker.commit():
        swept = deliveries_sweep()
    assert (swept.lost, swept.sent) == (1, 1)
    broker.run()
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED and delivery.attempts == 2 and len(receiver.received) == 1


def test_the_request_names_the_urls_host_and_goes_to_the_checked_address(db, receiver, settings, broker):
    settings.PORTAL_WEBHOOKS_ALLOW_PRIVATE = False
    settings.PORTAL_WEBHOOKS_ALLOWED_HOSTS = ["localhost"]
    url = receiver.url.replace("127.0.0.1", "localhost")
    endpoint = endpoint_create(url=url, event_types=[])
    with broker.commit():
        endpoint_test_send(endpoint=endpoint)
    broker.run()
    [got] = receiver.received  # the receiver listens on 127.0.0.1 only: the address localhost was checked as
    assert got.headers["host"] == url.split("/")[2]
    assert WebhookDelivery.objects.get().status == Status.DELIVERED


def test_a_deleted_endpoints_delivery_is_never_attempted(endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        delivery = endpoint_test_send(endpoint=endpoint)
    endpoint.delete()
    assert delivery_attempt(delivery_id=delivery.pk) is None


def test_beat_sends_the_sweep_by_a_name_a_task_carries(db, settings):
    entry = settings.CELERY_BEAT_SCHEDULE["webhooks-sweep"]
    assert entry["task"] in current_app.tasks and entry["schedule"] == 30.0
    assert current_app.tasks[entry["task"]]() == {"lost": 0, "sent": 0}
