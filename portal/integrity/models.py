"""What similarity checking keeps: each submission's fingerprints, known solutions, and the matches.

Evidence for reviewers, never a verdict: nothing here changes a score.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from portal.assessments.models import Assessment, AssessmentVersion
from portal.invites.models import Invite


class KnownSolution(models.Model):
    """A solution known to be public or leaked, attached by an author to an assessment version:
    every submission of that assessment is compared with it too."""

    assessment_version = models.ForeignKey(AssessmentVersion, on_delete=models.CASCADE, related_name="known_solutions")
    name = models.CharField(max_length=200, help_text="Where it was found, for example 'public gist, 2026-11'.")
    source_url = models.URLField(max_length=500, blank=True)
    # The solution's changed files as text, by path (capped like a submission's): shown beside a match.
    files = models.JSONField(default=dict)
    # Winnowed fingerprints of those files, the shipped project and the reference fixes excluded.
    fingerprints = models.JSONField(default=list)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.assessment_version})"


class SubmissionPrint(models.Model):
    """One candidate's changes, fingerprinted once they submitted: what every later one is compared with.

    One per invite for the whole submission (ref ""), and one per ticket's branch
    ("refs/heads/issue-3"): a ticket's fix copied alone shows on its branch, where the rest of the
    submission does not dilute it.
    """

    invite = models.ForeignKey(Invite, on_delete=models.CASCADE, related_name="similarity_prints")
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="+")
    ref = models.CharField(max_length=100, blank=True, default="", help_text='"" for the whole submission.')
    commit = models.CharField(max_length=40, help_text="The commit whose changes were fingerprinted.")
    # The candidate's changed files as text, by path (capped): shown beside a match.
    files = models.JSONField(default=dict)
    fingerprints = models.JSONField(default=list)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["invite", "ref"], name="integrity_print_invite_ref")]
        indexes = [models.Index(fields=["assessment", "ref"])]

    def __str__(self) -> str:
        on = f" {self.ref}" if self.ref else ""
        return f"fingerprints of {self.invite}{on} at {self.commit[:7]}"


class SimilarityMatch(models.Model):
    """How much of one submission is found in another submission, or in a known solution.

    Kept once per direction: the invite's report lists its own matches.
    """

    invite = models.ForeignKey(Invite, on_delete=models.CASCADE, related_name="similarity_matches")
    other_invite = models.ForeignKey(Invite, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    known_solution = models.ForeignKey(KnownSolution, on_delete=models.CASCADE, null=True, blank=True)
    # What was compared: "" the whole submissions, else one ticket's branch on both sides
    # ("refs/heads/issue-3"), or that branch with a known solution.
    ref = models.CharField(max_length=100, blank=True, default="")
    score = models.FloatField(help_text="0 to 1: the share of the smaller side's fingerprints found in the other.")
    shared = models.PositiveIntegerField(help_text="Fingerprints the two have in common.")
    # The matching passages side by side: [{"path", "lines": [first, last], "other_path", "other_lines", ...}].
    passages = models.JSONField(default=list)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(other_invite__isnull=False, known_solution__isnull=True)
                | Q(other_invite__isnull=True, known_solution__isnull=False),
                name="integrity_match_one_other",
            ),
            models.UniqueConstraint(fields=["invite", "other_invite", "ref"], name="integrity_match_invite_pair_ref"),
            models.UniqueConstraint(fields=["invite", "known_solution", "ref"], name="integrity_match_known_ref"),
        ]
        indexes = [models.Index(fields=["invite", "-score"])]

    def __str__(self) -> str:
        other = self.other_invite or self.known_solution
        on = f" on {self.ref}" if self.ref else ""
        return f"{self.invite} ~ {other}{on}: {self.score:.2f}"
