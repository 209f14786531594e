"""Webhook endpoints (where to tell, and about what) and deliveries (one message to one endpoint)."""

from django.conf import settings
from django.db import models

# What an endpoint may subscribe to: (type, what it says). `webhook.test` is sent on request only.
EVENT_TYPES = [
    ("invite.sent", "The invitation email reached the mail server"),
    ("invite.opened", "The candidate opened their link"),
    ("push.received", "The candidate pushed"),
    ("run.completed", "A pushed commit was scored"),
    ("candidate.submitted", "The work was submitted (by the candidate, or when time ran out)"),
    ("review.submitted", "A reviewer submitted the first review"),
    ("feedback.released", "Feedback was released to the candidate"),
]
EVENT_TYPE_NAMES = [name for name, _ in EVENT_TYPES]
TEST_EVENT_TYPE = "webhook.test"


class WebhookEndpoint(models.Model):
    """A URL that receives signed webhooks for the event types it subscribes to."""

    url = models.URLField(max_length=2000, help_text="Where deliveries are POSTed (http or https).")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Subscribed event types; none: nothing is sent.")
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, help_text="whsec_ and the base64 of the signing key.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    disabled_reason = models.CharField(max_length=300, blank=True, help_text="Why the endpoint was turned off.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One message for one endpoint, with its attempts: the delivery log's row.

    Every attempt sends the same ``msg_id`` (the ``webhook-id`` header), so a receiver that got the
    message already can tell. The row is written in the transaction of the event it reports: the
    database, not the broker, says what is still to be sent (the sweep sends what is due).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (will retry)"
        GAVE_UP = "gave_up", "Gave up"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    msg_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True, help_text="The start of the last answer's body (1 KB at most).")
    error = models.CharField(max_length=300, blank=True, help_text="Why the last attempt failed.")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="While delivering: past this, the attempt is taken as lost."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"]), models.Index(fields=["endpoint", "-id"])]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.msg_id} {self.event_type} {self.status}"

    @property
    def in_flight(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.DELIVERING, self.Status.FAILED)
