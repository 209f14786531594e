"""Which events of an invite's timeline become webhooks, with what data; one delivery per subscribed
active endpoint, written in the event's transaction."""

import pytest
from django.utils import timezone

from portal.invites.emails import invitation_queue, reminders_send
from portal.invites.hooks import event_recorded
from portal.invites.models import Event, Invite
from portal.invites.services import event_record, invite_submit
from portal.reviews.services import feedback_release
from portal.scoring.models import Run, TicketVerdict
from portal.scoring.services import _finish
from portal.webhooks.models import WebhookDelivery
from portal.webhooks.services import endpoint_create, endpoint_update, event_deliveries_create
from tests.support.factories import push_branches

pytestmark = pytest.mark.engines


def _types() -> list[str]:
    return list(WebhookDelivery.objects.order_by("id").values_list("event_type", flat=True))


def test_the_invitation_email_is_invite_sent_and_other_emails_are_not(endpoint, invite, smtp, broker, settings):
    settings.PORTAL_REMINDER_HOURS = 0
    with broker.commit():
        invitation_queue(invite=invite)
    broker.run()
    [delivery] = WebhookDelivery.objects.all()
    assert delivery.event_type == "invite.sent" and delivery.status == WebhookDelivery.Status.DELIVERED
    event_record(invite=invite, kind=Event.Kind.EMAILED, data={"kind": "feedback", "to": "ann@example.com"})
    event_record(invite=invite, kind=Event.Kind.EMAILED, data={"kind": "submitted_notice", "to": "rita@example.com"})
    assert reminders_send() == [] and _types() == ["invite.sent"]


def test_a_push_and_a_finished_run_carry_branches_and_the_score(endpoint, invite, broker):
    with broker.commit():
        heads = push_branches(invite, 1)
    [pushed] = WebhookDelivery.objects.filter(event_type="push.received")
    assert pushed.payload["data"]["push"]["branches"] == ["issue-1"]
    run = Run.objects.get(invite=invite, commit=heads["issue-1"])
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING, started_at=timezone.now())
    run.refresh_from_db()

    def verdicts():
        TicketVerdict.objects.bulk_create(
            TicketVerdict(run=run, ticket=t, passed=t == 1, tests_passed=int(t == 1), tests_total=1) for t in (1, 2)
        )

    _finish(run, status=Run.Status.FAILED, write=verdicts)
    [completed] = WebhookDelivery.objects.filter(event_type="run.completed")
    assert completed.payload["data"]["run"] == {
        "id": run.pk,
        "status": "failed",
        "commit": heads["issue-1"],
        "branch": "issue-1",
        "score": {"tickets_fixed": 1, "tickets_graded": 2},
    }


def test_submission_and_released_feedback_are_webhooks(endpoint, invite, reviewer):
    invite_submit(invite=invite)
    invite = Invite.objects.get(pk=invite.pk)
    feedback_release(invite=invite, by=reviewer, summary="Clear commits; ticket 2 still fails.")
    assert _types() == ["candidate.submitted", "feedback.released"]
    released = WebhookDelivery.objects.get(event_type="feedback.released").payload
    assert released["data"]["status"] == "submitted" and released["data"]["assessment"]
    assert Event.objects.filter(invite=invite, kind=Event.Kind.FEEDBACK_RELEASED).count() == 1


def test_only_active_endpoints_subscribed_to_the_type_get_a_delivery(endpoint, invite, allow_private, receiver):
    other = endpoint_create(url=receiver.url, event_types=["push.received"])
    off = endpoint_create(url=receiver.url, event_types=["invite.opened"], active=False)
    event_record(invite=invite, kind=Event.Kind.OPENED)
    assert list(WebhookDelivery.objects.values_list("endpoint", flat=True)) == [endpoint.pk]
    endpoint_update(endpoint=endpoint, event_types=[])
    event_record(invite=invite, kind=Event.Kind.OPENED)
    assert WebhookDelivery.objects.count() == 1 and not other.deliveries.exists() and not off.deliveries.exists()
    assert "Turned off" in off.disabled_reason


def test_an_event_nobody_subscribes_to_costs_one_query(endpoint, invite, django_assert_num_queries):
    endpoint_update(endpoint=endpoint, event_types=["review.submitted"])
    event = Event(invite=invite, kind=Event.Kind.OPENED, at=timezone.now())
    with django_assert_num_queries(1):
        assert event_deliveries_create(event=event) == []
    with django_assert_num_queries(0):
        assert event_deliveries_create(event=Event(invite=invite, kind=Event.Kind.CLONED, at=timezone.now())) == []


def test_the_webhooks_app_answers_the_event_hook():
    assert event_deliveries_create in event_recorded.receivers
