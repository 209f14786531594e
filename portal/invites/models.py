from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class Candidate(models.Model):
    """A person invited to take assessments. Candidates have no account."""

    name = models.CharField(max_length=200)
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="invites_candidate_email_ci")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Invite(models.Model):
    """One candidate's attempt at one assessment version, with its own repository.

    ``public_id`` names the invite in URLs and is the git user name; it is random so
    invites cannot be enumerated. Tokens are stored as SHA-256 hashes: they are long
    random strings, so a fast hash is safe and a database leak reveals none of them.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUBMITTED = "submitted", "Submitted"
        REVOKED = "revoked", "Revoked"

    public_id = models.CharField(max_length=32, unique=True)
    candidate = models.ForeignKey(Candidate, on_delete=models.PROTECT, related_name="invites")
    assessment_version = models.ForeignKey(
        "assessments.AssessmentVersion", on_delete=models.PROTECT, related_name="invites"
    )
    link_token_hash = models.CharField(max_length=64, unique=True)
    git_token_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    deadline = models.DateTimeField(null=True, blank=True, help_text="No pushes after this moment.")
    time_limit = models.DurationField(null=True, blank=True, help_text="Counted from the first clone.")
    started_at = models.DateTimeField(null=True, blank=True, help_text="The first clone or fetch.")
    submitted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return f"{self.public_id} ({self.candidate})"

    @property
    def closes_at(self) -> datetime | None:
        """When work must stop: the deadline, or the end of the time limit once started."""
        ends = [self.deadline] if self.deadline else []
        if self.time_limit and self.started_at:
            ends.append(self.started_at + self.time_limit)
        return min(ends) if ends else None

    def is_expired(self, now: datetime) -> bool:
        closes_at = self.closes_at
        return closes_at is not None and now >= closes_at


class Event(models.Model):
    """One entry on an invite's timeline. Every state change writes one."""

    class Kind(models.TextChoices):
        INVITED = "invited", "Invited"
        EMAILED = "emailed", "Emailed"
        EMAIL_FAILED = "email_failed", "Email failed"
        REMINDED = "reminded", "Reminded"
        LINK_RENEWED = "link_renewed", "New link"
        OPENED = "opened", "Opened"
        STARTED = "started", "Started"
        CLONED = "cloned", "Cloned"
        FETCHED = "fetched", "Fetched"
        PUSHED = "pushed", "Pushed"
        PUSH_REFUSED = "push_refused", "Push refused"
        SCORED = "scored", "Scored"
        SUBMITTED = "submitted", "Submitted"
        REVIEWED = "reviewed", "Reviewed"
        FEEDBACK_RELEASED = "feedback_released", "Feedback released"
        EXTENDED = "extended", "Extended"
        REVOKED = "revoked", "Revoked"
        REOPENED = "reopened", "Reopened"
        VERSION_CHANGED = "version_changed", "Moved to another version"

    invite = models.ForeignKey(Invite, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["invite", "kind"])]

    def __str__(self) -> str:
        return f"{self.invite.public_id} {self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class Email(models.Model):
    """One outgoing message about an invite, kept so a failure can be seen and retried.

    No message body is stored: an invitation carries a link token, which exists in clear only
    while the message is being sent.
    """

    class Kind(models.TextChoices):
        INVITATION = "invitation", "Invitation"
        REMINDER = "reminder", "Reminder"
        SUBMITTED_NOTICE = "submitted_notice", "Submission notice"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    invite = models.ForeignKey(Invite, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    to = models.EmailField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=300, blank=True, help_text="Why the last attempt failed.")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was last queued (created, or retried) for a worker to send."
    )
    task_sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the broker took the task that sends it; empty while the broker has not (the sweep sends it).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["invite", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to} ({self.status})"
