"""Reviewers' judgement of submitted work: rubrics, who reviews what, and the reviews themselves.

A rubric is versioned rather than edited: every review points at the version it was scored
against, so changing the wording of a level never rewrites what an earlier reviewer meant.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

LEVELS = ("1", "2", "3", "4")
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TITLE = 100
MAX_TEXT = 1000


def criteria_errors(criteria: object) -> list[str]:
    """Every way ``criteria`` differs from a list of criteria with four anchored levels; [] if none.

    Shared by the model's clean() (the admin) and the services, so a rubric cannot be stored
    in a shape the review form would fail on.
    """
    if not isinstance(criteria, list) or not criteria:
        return ["The criteria must be a non-empty list."]
    errors: list[str] = []
    seen: set[str] = set()
    for index, criterion in enumerate(criteria, start=1):
        where = f"Criterion {index}"
        if not isinstance(criterion, dict):
            errors.append(f"{where} must be an object with key, title, question and levels.")
            continue
        unknown = set(criterion) - {"key", "title", "question", "levels"}
        if unknown:
            errors.append(f"{where} has unknown fields: {', '.join(sorted(map(str, unknown)))}.")
        key = criterion.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            errors.append(f"{where}: the key must be a slug of lowercase letters, digits and underscores.")
        elif key in seen:
            errors.append(f"{where}: the key {key!r} is used twice.")
        else:
            seen.add(key)
            where = f"Criterion {key!r}"
        for field, limit in (("title", MAX_TITLE), ("question", MAX_TEXT)):
            value = criterion.get(field)
            if not isinstance(value, str) or not value.strip():
                errors.append(f"{where}: the {field} must be a non-empty text.")
            elif len(value) > limit:
                errors.append(f"{where}: the {field} is longer than {limit} characters.")
        levels = criterion.get("levels")
        if not isinstance(levels, dict) or sorted(levels) != list(LEVELS):
            errors.append(f"{where}: the levels must be exactly 1, 2, 3 and 4.")
            continue
        for level in LEVELS:
            text = levels[level]
            if not isinstance(text, str) or not text.strip():
                errors.append(f"{where}: level {level} needs a description.")
            elif len(text) > MAX_TEXT:
                errors.append(f"{where}: level {level} is longer than {MAX_TEXT} characters.")
    return errors


class Rubric(models.Model):
    """The criteria reviewers score an assessment's submissions on, each with four anchored levels."""

    assessment = models.ForeignKey("assessments.Assessment", on_delete=models.CASCADE, related_name="rubrics")
    version = models.PositiveIntegerField(default=1)
    criteria = models.JSONField(
        help_text='A list of {"key", "title", "question", "levels": {"1": ..., "2": ..., "3": ..., "4": ...}}.'
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assessment", "-version"]
        constraints = [models.UniqueConstraint(fields=["assessment", "version"], name="reviews_rubric_version")]

    def __str__(self) -> str:
        return f"{self.assessment} rubric v{self.version}"

    def clean(self) -> None:
        errors = criteria_errors(self.criteria)
        if errors:
            raise ValidationError({"criteria": errors})

    @property
    def keys(self) -> list[str]:
        return [c["key"] for c in self.criteria]


class Assignment(models.Model):
    """A reviewer asked (or volunteering) to review one submitted invite."""

    invite = models.ForeignKey("invites.Invite", on_delete=models.CASCADE, related_name="review_assignments")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_assignments")
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assigned_at", "id"]
        constraints = [models.UniqueConstraint(fields=["invite", "reviewer"], name="reviews_assignment_once")]

    def __str__(self) -> str:
        return f"{self.reviewer} on {self.invite.public_id}"


class Review(models.Model):
    """One reviewer's scores of one invite against one rubric version; frozen once submitted."""

    class Recommendation(models.TextChoices):
        STRONG_NO = "strong_no", "Strong no"
        NO = "no", "No"
        YES = "yes", "Yes"
        STRONG_YES = "strong_yes", "Strong yes"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Submitted"

    invite = models.ForeignKey("invites.Invite", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews")
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="reviews")
    scores = models.JSONField(default=dict, blank=True, help_text="Criterion key: level 1 to 4.")
    comments = models.JSONField(default=dict, blank=True, help_text="Criterion key: comment.")
    recommendation = models.CharField(max_length=20, choices=Recommendation.choices, blank=True)
    summary = models.TextField(blank=True, max_length=10_000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["submitted_at", "id"]
        constraints = [models.UniqueConstraint(fields=["invite", "reviewer"], name="reviews_review_once")]
        indexes = [models.Index(fields=["invite", "status"])]

    def __str__(self) -> str:
        return f"{self.reviewer} on {self.invite.public_id} ({self.status})"

    @property
    def submitted(self) -> bool:
        return self.status == self.Status.SUBMITTED


class AssessmentReviewer(models.Model):
    """Restricts an assessment to named reviewers; an assessment without rows is open to all of them."""

    assessment = models.ForeignKey("assessments.Assessment", on_delete=models.CASCADE, related_name="reviewers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["assessment", "user"], name="reviews_assessment_reviewer_once")]
        verbose_name = "assessment reviewer"

    def __str__(self) -> str:
        return f"{self.user} reviews {self.assessment}"


class ReviewComment(models.Model):
    """A reviewer's remark on one line of a branch's diff, as it was at one commit.

    The comment keeps the commit it was made on: when the branch moves, the line it spoke of may
    have changed or gone, so it is listed as made on an earlier commit rather than moved to a line
    that merely has the same number now.
    """

    class Side(models.TextChoices):
        NEW = "new", "New"  # an added or unchanged line, numbered as in the branch
        OLD = "old", "Old"  # a deleted line, numbered as in the starting point

    class Visibility(models.TextChoices):
        PRIVATE = "private", "Private"
        SHARED = "shared", "Shared with the candidate"

    invite = models.ForeignKey("invites.Invite", on_delete=models.CASCADE, related_name="review_comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_comments")
    commit = models.CharField(max_length=40, help_text="The branch head the comment was made on.")
    branch = models.CharField(max_length=255)
    path = models.TextField()
    side = models.CharField(max_length=3, choices=Side.choices)
    line = models.PositiveIntegerField()
    body = models.TextField(max_length=5_000)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["invite", "created_at"])]

    def __str__(self) -> str:
        return f"{self.author} on {self.branch}:{self.path}:{self.line}"

    @property
    def shared(self) -> bool:
        return self.visibility == self.Visibility.SHARED


class Feedback(models.Model):
    """What the candidate is told about their work: a summary and the shared comments, once released."""

    invite = models.OneToOneField("invites.Invite", on_delete=models.CASCADE, related_name="feedback")
    summary = models.TextField(blank=True, max_length=10_000)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    # The email telling the candidate their feedback is ready (portal.reviews.emails).
    emailed_at = models.DateTimeField(null=True, blank=True, help_text="When the mail server accepted the email.")
    email_attempts = models.PositiveIntegerField(default=0)
    email_error = models.CharField(max_length=300, blank=True, help_text="Why the last attempt to email failed.")

    class Meta:
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        return f"Feedback on {self.invite.public_id}"
