"""Webhook endpoints and deliveries: every write of the app.

Reliable delivery, as the email outbox does it (portal/invites/emails.py): a delivery row is
written in the transaction of the event it reports, its task is sent by name once that commits,
and the beat sweep (``deliveries_sweep``) sends whatever is due that no task took: a delivery
written while the broker was down, a failed one whose next attempt has come, an attempt lost
with its worker. An attempt first claims its row with a conditional UPDATE, so two tasks for the
same delivery (the sweep's and the retry's) never send it twice at once; every attempt carries
the same ``webhook-id``, so a receiver dedupes a message it got before its answer was lost.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from portal.core.dispatch import send_on_commit
from portal.invites.models import Event
from portal.scoring.models import TicketVerdict
from portal.webhooks import transport
from portal.webhooks.models import EVENT_TYPE_NAMES, TEST_EVENT_TYPE, WebhookDelivery, WebhookEndpoint
from portal.webhooks.urlpolicy import UrlRefused, url_check

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver"
ERROR_MAX_LENGTH = WebhookDelivery._meta.get_field("error").max_length
# Longer than an attempt can take (the transport's own deadline), so a live attempt is never taken
# as lost; a worker killed mid-attempt leaves its row for the sweep after this.
LEASE_MARGIN = timedelta(seconds=60)
# Due this long and no task took it: the sweep sends it. Far longer than the send after commit
# takes, so a delivery whose task is on its way is not sent a second task.
SEND_GRACE = timedelta(seconds=15)
Status = WebhookDelivery.Status


class EndpointInvalid(ValueError):
    """A field of an endpoint is not acceptable; ``field`` names it, the message says why."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class DeliveryRefused(ValueError):
    """The delivery cannot be sent again as things stand; the message says why."""


# --- Endpoints --------------------------------------------------------------


def secret_new() -> str:
    """A signing secret in the Standard Webhooks form: whsec_ and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _clean_url(url: str) -> str:
    try:
        url_check(url)
    except UrlRefused as exc:
        raise EndpointInvalid("url", str(exc)) from None
    return url.strip()


def _clean_event_types(event_types: object) -> list[str]:
    if not isinstance(event_types, list | tuple) or not all(isinstance(t, str) for t in event_types):
        raise EndpointInvalid("event_types", "Give the event types as a list of names.")
    unknown = sorted(set(event_types) - set(EVENT_TYPE_NAMES))
    if unknown:
        raise EndpointInvalid(
            "event_types", f"Unknown event type: {', '.join(unknown)}. Known: {', '.join(EVENT_TYPE_NAMES)}."
        )
    return [name for name in EVENT_TYPE_NAMES if name in event_types]


def _clean_description(description: str) -> str:
    description = " ".join(str(description or "").split())
    if len(description) > 200:
        raise EndpointInvalid("description", "The description is longer than 200 characters.")
    return description


@transaction.atomic
def endpoint_create(
    *, url: str, event_types: list[str], description: str = "", active: bool = True, by=None
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret; its URL checked by the URL policy (urlpolicy.py)."""
    return WebhookEndpoint.objects.create(
        url=_clean_url(url),
        event_types=_clean_event_types(event_types),
        description=_clean_description(description),
        active=bool(active),
        disabled_reason="" if active else _off_words(by),
        secret=secret_new(),
        created_by=by,
    )


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, by=None, **changes) -> WebhookEndpoint:
    """Change ``url``, ``event_types``, ``description`` or ``active``; the others are left alone."""
    unknown = set(changes) - {"url", "event_types", "description", "active"}
    if unknown:
        raise EndpointInvalid(sorted(unknown)[0], "This field cannot be changed.")
    if "url" in changes:
        endpoint.url = _clean_url(changes["url"])
    if "event_types" in changes:
        endpoint.event_types = _clean_event_types(changes["event_types"])
    if "description" in changes:
        endpoint.description = _clean_description(changes["description"])
    if "active" in changes and bool(changes["active"]) != endpoint.active:
        endpoint.active = bool(changes["active"])
        endpoint.disabled_reason = "" if endpoint.active else _off_words(by)
    endpoint.save()
    return endpoint


def _off_words(by) -> str:
    who = f" by {by.get_username()}" if by is not None else ""
    return f"Turned off{who} on {timezone.now():%Y-%m-%d %H:%M} UTC."


def endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret: every attempt from now on, retries of older messages included, is signed with it."""
    endpoint.secret = secret_new()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its delivery log; attempts under way find their row gone and stop."""
    endpoint.delete()


@transaction.atomic
def endpoint_test_send(*, endpoint: WebhookEndpoint, by=None) -> WebhookDelivery:
    """A ``webhook.test`` message to this endpoint, whatever it subscribes to (active or not)."""
    data = {"message": "A test event from the Assessment Portal.", "sent_by": by.get_username() if by else None}
    payload = _payload(TEST_EVENT_TYPE, at=timezone.now(), data=data)
    return _deliveries_create([endpoint], event_type=TEST_EVENT_TYPE, payload=payload)[0]


# --- Events to deliveries ----------------------------------------------------

_TYPE_OF_KIND = {
    Event.Kind.OPENED: "invite.opened",
    Event.Kind.PUSHED: "push.received",
    Event.Kind.SCORED: "run.completed",
    Event.Kind.SUBMITTED: "candidate.submitted",
    Event.Kind.REVIEWED: "review.submitted",
    Event.Kind.FEEDBACK_RELEASED: "feedback.released",
}


def event_type_of(event: Event) -> str | None:
    """The webhook event type an invite's event is, if any (an EMAILED event only for the invitation)."""
    if event.kind == Event.Kind.EMAILED:
        return "invite.sent" if (event.data or {}).get("kind") == "invitation" else None
    return _TYPE_OF_KIND.get(event.kind)


def event_deliveries_create(*, event: Event) -> list[WebhookDelivery]:
    """The receiver of ``invites.event_recorded``: one delivery per active endpoint subscribed to the event.

    Runs in the event's transaction for every event the portal writes, so it costs one query when
    nobody subscribes (endpoints are few: they are read whole and filtered here, which also works
    where the database cannot search inside JSON).
    """
    event_type = event_type_of(event)
    if event_type is None:
        return []
    endpoints = [e for e in WebhookEndpoint.objects.filter(active=True) if event_type in (e.event_types or [])]
    if not endpoints:
        return []
    payload = _payload(event_type, at=event.at, data=_event_data(event, event_type))
    return _deliveries_create(endpoints, event_type=event_type, payload=payload)


def _payload(event_type: str, *, at: datetime, data: dict) -> dict:
    return {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}


def _event_data(event: Event, event_type: str) -> dict:
    invite = event.invite
    base = settings.PORTAL_BASE_URL
    data = {
        "invite": invite.public_id,
        "candidate": {"name": invite.candidate.name, "email": invite.candidate.email},
        "assessment": invite.assessment_version.assessment.slug,
        "status": invite.status,
        "api_url": f"{base}/api/v1/invites/{invite.public_id}",
        "report_url": base + reverse("invite_result", args=[invite.public_id]),
    }
    facts = event.data or {}
    if event_type == "push.received":
        refs = [ref.get("ref", "") for ref in facts.get("refs", [])]
        data["push"] = {
            "id": facts.get("push"),
            "branches": [ref.removeprefix("refs/heads/") for ref in refs if ref.startswith("refs/heads/")],
        }
    elif event_type == "run.completed":
        verdicts = list(TicketVerdict.objects.filter(run_id=facts.get("run")).values_list("passed", flat=True))
        data["run"] = {
            "id": facts.get("run"),
            "status": facts.get("status"),
            "commit": facts.get("commit"),
            "branch": (facts.get("ref") or "").removeprefix("refs/heads/"),
            "score": {"tickets_fixed": sum(verdicts), "tickets_graded": len(verdicts)},
        }
    elif event_type == "candidate.submitted":
        data["automatic"] = bool(facts.get("automatic"))
    elif event_type == "review.submitted":
        data["recommendation"] = facts.get("recommendation")
    return data


def _deliveries_create(endpoints: list[WebhookEndpoint], *, event_type: str, payload: dict) -> list[WebhookDelivery]:
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            msg_id=f"msg_{uuid.uuid4().hex}",
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
        )
        for endpoint in endpoints
    )
    if any(d.pk is None for d in deliveries):  # a backend that returns no ids from a bulk insert
        deliveries = list(WebhookDelivery.objects.filter(msg_id__in=[d.msg_id for d in deliveries]))
    for delivery in deliveries:
        send_on_commit(DELIVER_TASK, delivery_id=delivery.pk)
    return deliveries


# --- Attempts ----------------------------------------------------------------


@dataclass(frozen=True)
class Attempted:
    """An attempt's end: the row as it stands, and in how many seconds the next attempt is due."""

    delivery: WebhookDelivery
    retry_in: float | None


def delivery_attempt(*, delivery_id: int) -> Attempted | None:
    """Make one attempt of a due delivery; what the task ``webhooks.deliver`` runs.

    None when the delivery is not due or another attempt holds it (a second task for it, a
    delivered message): nothing is sent. The attempt is counted when claimed, before the POST,
    so an attempt lost with its worker still counts towards giving up.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=settings.PORTAL_WEBHOOKS_TIMEOUT) + LEASE_MARGIN
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now
    ).update(status=Status.DELIVERING, attempts=F("attempts") + 1, lease_until=lease, last_attempt_at=now)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    outcome = _send(delivery)
    return _record(delivery=delivery, outcome=outcome)


def _send(delivery: WebhookDelivery) -> transport.Outcome:
    endpoint = delivery.endpoint
    if not endpoint.active and delivery.event_type != TEST_EVENT_TYPE:
        return transport.Outcome(status=None, error="The endpoint is turned off.")
    try:
        target = url_check(endpoint.url)
    except UrlRefused as exc:
        return transport.Outcome(status=None, error=f"Not sent: {exc}")
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    sent_at = timezone.now()
    headers = {
        "webhook-id": delivery.msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(delivery.msg_id, sent_at, body),
        "Content-Type": "application/json",
        "User-Agent": f"AssessmentPortal-Webhooks/1 (+{settings.PORTAL_BASE_URL})",
    }
    return transport.post(
        target,
        body=body,
        headers=headers,
        connect_timeout=settings.PORTAL_WEBHOOKS_CONNECT_TIMEOUT,
        timeout=settings.PORTAL_WEBHOOKS_TIMEOUT,
    )


def _record(*, delivery: WebhookDelivery, outcome: transport.Outcome) -> Attempted:
    now = timezone.now()
    fields = {
        "response_code": outcome.status,
        "response_excerpt": outcome.excerpt[: transport.EXCERPT_BYTES],
        "error": _capped(outcome.error),
        "lease_until": None,
    }
    retry_in = None
    if outcome.delivered:
        fields.update(status=Status.DELIVERED, delivered_at=now, next_attempt_at=None)
    else:
        if not fields["error"]:
            fields["error"] = f"Answered {outcome.status}: only a 2xx answer counts as delivered."
        schedule = settings.PORTAL_WEBHOOKS_RETRY_SECONDS
        if delivery.attempts <= len(schedule):
            retry_in = float(schedule[delivery.attempts - 1])
            fields.update(status=Status.FAILED, next_attempt_at=now + timedelta(seconds=retry_in))
        else:
            fields.update(status=Status.GAVE_UP, next_attempt_at=None)
    # Only this attempt's own claim is ended: had the sweep taken it as lost and a new attempt
    # begun meanwhile, that one's outcome is the one the row keeps.
    kept = WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.DELIVERING, attempts=delivery.attempts).update(
        **fields
    )
    if not kept:  # deleted with its endpoint meanwhile, or taken over: nothing of this attempt is kept
        return Attempted(delivery=delivery, retry_in=None)
    delivery.refresh_from_db()
    return Attempted(delivery=delivery, retry_in=retry_in)


def _capped(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_MAX_LENGTH else text[: ERROR_MAX_LENGTH - 1] + "…"


@transaction.atomic
def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """A new attempt of the same message (same ``webhook-id``), now; refused while one is under way."""
    now = timezone.now()
    updated = (
        WebhookDelivery.objects.filter(pk=delivery.pk)
        .exclude(status=Status.DELIVERING)
        .update(status=Status.PENDING, next_attempt_at=now, error="")
    )
    if not updated:
        raise DeliveryRefused("This delivery is being sent right now; wait for the attempt to end.")
    send_on_commit(DELIVER_TASK, delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


# --- The sweep ---------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    lost: int
    sent: int


def deliveries_sweep(*, now: datetime | None = None, limit: int = 200) -> Sweep:
    """Beat runs this every 30 s: attempts lost with their worker are ended, and due deliveries sent.

    A delivering row past its lease is marked failed (its attempt counted, due at once, or given
    up when that was its last). Then every pending or failed row due for longer than
    ``SEND_GRACE`` gets a task: its own was never taken by the broker, or it waited out a long
    retry delay, which only the sweep sends (a retry due within a minute is sent by the task).
    Each row is taken by one sweep alone (a conditional update of its due time).
    """
    now = now or timezone.now()
    lost = 0
    schedule = settings.PORTAL_WEBHOOKS_RETRY_SECONDS
    for pk, attempts in WebhookDelivery.objects.filter(status=Status.DELIVERING, lease_until__lt=now).values_list(
        "pk", "attempts"
    )[:limit]:
        last = attempts > len(schedule)
        lost += WebhookDelivery.objects.filter(pk=pk, status=Status.DELIVERING, attempts=attempts).update(
            status=Status.GAVE_UP if last else Status.FAILED,
            next_attempt_at=None if last else now - SEND_GRACE,
            lease_until=None,
            error="The attempt did not end (its worker stopped).",
        )
    due = WebhookDelivery.objects.filter(
        status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now - SEND_GRACE
    ).values_list("pk", "next_attempt_at")[:limit]
    sent = 0
    for pk, due_at in list(due):
        # Due now (not at a ``now`` given in the future), so the task it is sent may claim it.
        if WebhookDelivery.objects.filter(pk=pk, next_attempt_at=due_at).update(
            next_attempt_at=min(now, timezone.now())
        ):
            send_on_commit(DELIVER_TASK, delivery_id=pk)
            sent += 1
    return Sweep(lost=lost, sent=sent)
