from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Assessment(models.Model):
    """An assessment as recruiters know it: one slug, many versions over time."""

    class CandidateResults(models.TextChoices):
        """What a candidate sees of their own runs while they work; each level adds to the one before.

        Never the hidden tests themselves: at most, per ticket, whether its hidden tests passed.
        """

        NOTHING = "nothing", "Nothing: only whether each push is scored yet"
        VISIBLE = "visible", "Their visible tests: how many of their own tests pass"
        TICKETS = "tickets", "Their visible tests and, per ticket, pass or fail"

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    candidate_results = models.CharField(
        max_length=10,
        choices=CandidateResults.choices,
        default=CandidateResults.VISIBLE,
        help_text="What candidates see of the scoring of their pushes while they work.",
    )
    blind_review = models.BooleanField(
        default=False,
        help_text="Reviewers see no name, email or commit identity of candidates: an alias instead.",
    )
    similarity_flag = models.FloatField(
        default=0.6,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=(
            "Recruiters see a flag on the dashboard for a submission whose closest match with another "
            "candidate's, or with a known solution, scores at least this (0 to 1). Evidence for "
            "reviewers only: it never changes a score."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.title

    @property
    def latest_version(self) -> "AssessmentVersion | None":
        return self.versions.order_by("-created_at", "-id").first()


class AssessmentVersion(models.Model):
    """One immutable snapshot of an assessment package.

    The version is the content hash of the package, so an invite keeps exactly the
    project, hidden tests and fixes it was created with, whatever changes later.
    The snapshot lives in the data directory and is never edited in place; workers without
    that directory fetch it by content hash (portal.assessments.services.version_package).
    """

    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="versions")
    content_hash = models.CharField(max_length=64)
    label = models.CharField(max_length=50, help_text="The version the package's manifest declares.")
    manifest = models.JSONField(help_text="assessment.toml as loaded.")
    package_dir = models.CharField(
        max_length=500, help_text="Where the snapshot is, relative to the data directory (PORTAL_DATA_DIR)."
    )
    shipped_subdir = models.CharField(max_length=200, help_text="The folder inside the package candidates receive.")
    validation = models.JSONField(default=dict, blank=True, help_text="The checks validation ran, and their results.")
    validated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assessment", "content_hash"], name="assessments_version_hash"),
        ]

    def __str__(self) -> str:
        return f"{self.assessment.slug} {self.label} ({self.short_hash})"

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]
