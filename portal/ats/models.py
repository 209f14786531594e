"""Greenhouse's side of an invite: the key Greenhouse calls with, the tests it sent, the reports back."""

from django.conf import settings
from django.db import models


class GreenhouseKey(models.Model):
    """The key Greenhouse sends as its Basic user name; shown once when made, stored only as a hash.

    More than one may be valid at once while an operator switches Greenhouse over to a new key
    (``manage.py greenhouse_key --keep``); revoking is immediate.
    """

    prefix = models.CharField(max_length=16, help_text="The key's first characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({'revoked' if self.revoked_at else 'valid'})"


class GreenhouseTest(models.Model):
    """A test Greenhouse sent to a candidate (send_test): the invite it made, and Greenhouse's ids.

    ``partner_interview_id`` is what Greenhouse asks test_status about; ``request_key`` makes a
    repeated send_test find this row instead of inviting again: Greenhouse's callback url (it names
    Greenhouse's own take-home test) or, without one, the candidate's email and the test.
    """

    invite = models.OneToOneField(
        "invites.Invite", null=True, blank=True, on_delete=models.CASCADE, related_name="greenhouse"
    )
    partner_interview_id = models.CharField(max_length=32, unique=True)
    partner_test_id = models.CharField(max_length=100, help_text="The assessment's slug Greenhouse chose.")
    request_key = models.CharField(max_length=2100, unique=True)
    callback_url = models.URLField(max_length=2000, blank=True, help_text="Where the completion report goes.")
    greenhouse_profile_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Greenhouse test {self.partner_interview_id}"


class CompletionReport(models.Model):
    """One PATCH telling Greenhouse a test is complete: written in the transaction of the event that
    completes it, sent by the task ``ats.report`` once the result is stored, retried by the sweep.

    ``next_attempt_at`` is when it is due; ``task_sent_at`` says the broker took the task for that
    attempt (empty: the sweep sends it when due). What was sent and answered is kept on the row.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        UNCHANGED = "unchanged", "Not sent: Greenhouse was already told this result"
        FAILED = "failed", "Failed"

    test = models.ForeignKey(GreenhouseTest, on_delete=models.CASCADE, related_name="reports")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField()
    task_sent_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="The body of the last attempt.")
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True, help_text="Why the last attempt failed.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one report waiting per test: a second completing event finds it and adds none.
            models.UniqueConstraint(
                fields=["test"], condition=models.Q(status="pending"), name="ats_report_one_pending"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"report of {self.test.partner_interview_id} ({self.status})"
