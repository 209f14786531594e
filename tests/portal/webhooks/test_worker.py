"""A webhook delivered by a real Celery worker: the event's transaction commits, the task goes through
the broker, the worker POSTs to the receiver, is answered 500, and sends the same message again on
its own after the retry delay."""

import pytest
from django.db import connection
from standardwebhooks import Webhook

from portal.invites.services import invite_opened_record
from portal.webhooks.models import WebhookDelivery
from tests.portal.webhooks.conftest import wait_until
from tests.support.workers import database_url, running_worker

pytestmark = [pytest.mark.integration, pytest.mark.engines, pytest.mark.django_db(transaction=True)]


def test_a_worker_delivers_and_retries_a_webhook(endpoint, receiver, invite, tmp_path):
    receiver.answers = [500, 204]
    env = {"PORTAL_WEBHOOKS_ALLOW_PRIVATE": "true", "PORTAL_WEBHOOKS_RETRY_SECONDS": "1"}
    with running_worker(db_url=database_url(connection.settings_dict), log_dir=tmp_path, queues="default", env=env):
        invite_opened_record(invite=invite)  # committed: its task goes to the broker now
        delivery = wait_until(
            lambda: WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DELIVERED).first(), timeout=60
        )
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.msg_id
    assert Webhook(endpoint.secret).verify(second.body, second.headers)["type"] == "invite.opened"
    assert (delivery.attempts, delivery.response_code) == (2, 204)
