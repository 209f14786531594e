from django.conf import settings
from django.db import models

# The candidate's own tests, in ``Run.visible`` (information only: no verdict depends on them). They run
# after the verdict is recorded, on the same exported tree, so that nothing of the candidate's competes
# with the hidden tests for the cores (portal.scoring.services). One of:
#   {}   never run: the run ended before its tree was exported (or was superseded)
#   {"state": "pending", "worker": node, "since": iso}   to be run by ``worker`` ("": sent to any worker)
#   {"state": "done", "returncode", "passed", "total", "failed", "output", "version", "tree"[, "reused_from"]}
#   {"state": "failed", "reason": ...}   they could not be run (their plays stopped the worker, no sandbox)
# A summary stored before these states has no "state" and counts as done. "version" is the assessment
# version they ran on, "tree" the commit's tree id; "reused_from" the run whose play gave them, when
# they were copied (they depend only on the tree and the version's runtime: a rescore, a new grader,
# the same tree pushed again are never played twice).
VISIBLE_PENDING = "pending"
VISIBLE_DONE = "done"
VISIBLE_FAILED = "failed"
VISIBLE_STATES = (VISIBLE_PENDING, VISIBLE_DONE, VISIBLE_FAILED)


def visible_state(visible: object) -> str:
    """The state of a run's ``visible`` field: "" (never run), pending, done or failed."""
    if not isinstance(visible, dict) or not visible:
        return ""
    state = visible.get("state")
    if state in VISIBLE_STATES:
        return state
    return VISIBLE_DONE if "total" in visible else ""


class Run(models.Model):
    """One scoring of one commit of an invite's repository by one grader version.

    Unique per (invite, commit, grader version): a redelivered or duplicated task
    finds the existing run and adds nothing; a new grader version scores anew while
    old results stay for audit.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"
        # Never run: the branch moved on (or the integration changed) before a worker took it.
        SUPERSEDED = "superseded", "Superseded"

    FINISHED = (Status.PASSED, Status.FAILED, Status.ERROR)
    # Waiting for a worker, or on one: what "runs in flight" and "pending" count.
    ACTIVE = (Status.QUEUED, Status.RUNNING)

    invite = models.ForeignKey("invites.Invite", on_delete=models.CASCADE, related_name="runs")
    assessment_version = models.ForeignKey("assessments.AssessmentVersion", on_delete=models.PROTECT)
    commit = models.CharField(max_length=40)
    ref = models.CharField(max_length=255, blank=True, help_text="The ref whose push queued this run.")
    grader_version = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    reason = models.TextField(
        blank=True,
        help_text="Why the run is an error, or a note on a scored run (a requirement not installed), in words.",
    )
    queued_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the run was handed to the workers; empty while it waits for the invite's runs in flight.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    sandbox = models.JSONField(
        default=dict, blank=True, help_text="How the app's sandbox ended: limit, exit, mechanisms."
    )
    visible = models.JSONField(default=dict, blank=True, help_text="The candidate's own tests: information only.")
    log = models.TextField(blank=True, help_text="Capped output of the app and the grader.")
    attempt = models.PositiveIntegerField(
        default=0,
        help_text="How often the run was handed to the workers; only a task of the current attempt may claim it.",
    )
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the broker took the current attempt's task; empty until it did."
    )
    worker = models.CharField(
        max_length=255, blank=True, help_text="The node name of the worker that took (or last took) the run."
    )
    worker_pid = models.PositiveIntegerField(null=True, blank=True, help_text="The worker process that took it.")
    seed = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The seed the hidden tests' data and order were drawn from: the same seed replays the run.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["invite", "commit", "grader_version"], name="scoring_run_once"),
        ]
        indexes = [
            models.Index(fields=["status", "started_at"]),
            models.Index(fields=["invite", "status"], name="scoring_run_invite_status"),
            models.Index(fields=["status", "dispatched_at"], name="scoring_run_status_dispatched"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.commit[:7]} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


class TestResult(models.Model):
    __test__ = False  # a model, not a pytest test class

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="results")
    test_id = models.CharField(max_length=500)
    ticket = models.PositiveIntegerField(null=True)
    outcome = models.CharField(max_length=10)  # passed, failed, error, skipped
    duration = models.FloatField(default=0)
    message = models.TextField(blank=True)
    guard = models.BooleanField(
        default=False, help_text="A regression guard: must pass as shipped and with every fix; counts for no ticket."
    )
    points = models.PositiveIntegerField(
        null=True, blank=True, help_text="The test's share of its ticket's points, when its marker gives one."
    )

    class Meta:
        ordering = ["ticket", "test_id"]

    def __str__(self) -> str:
        return f"{self.test_id}: {self.outcome}"


class TicketVerdict(models.Model):
    """Whether a run's commit fixes one ticket (every hidden test of the ticket passed), and the points it earns."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="verdicts")
    ticket = models.PositiveIntegerField()
    passed = models.BooleanField()
    tests_passed = models.PositiveIntegerField()
    tests_total = models.PositiveIntegerField()
    earned = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The ticket's points the run earns (grader.verdicts); empty on runs scored before partial credit.",
    )

    class Meta:
        ordering = ["ticket"]
        constraints = [models.UniqueConstraint(fields=["run", "ticket"], name="scoring_verdict_once")]

    def __str__(self) -> str:
        return f"#{self.ticket}: {self.tests_passed}/{self.tests_total}"


class InviteAnalysis(models.Model):
    """What the worker computed about an invite's repository, stored so that pages only read it.

    Computed by the "analysis.invite" task (portal.scoring.analysis) after every finished run, and
    after a push that queued none: the ticket x branch matrix, regressions, scope creep, git-hygiene
    findings, code-quality signals and the integrated run. ``requested`` counts the requests and
    ``computed`` the request the stored result answers: while ``computed < requested`` the result
    shown is the previous one, and pages say that it is being brought up to date.
    ``task_sent_at`` is set while a task is on its way and not started: further requests then send
    none, so an invite has at most one analysis waiting for a worker, however often it pushes.
    """

    invite = models.OneToOneField("invites.Invite", on_delete=models.CASCADE, related_name="analysis")
    requested = models.PositiveIntegerField(default=0)
    computed = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(null=True, blank=True)
    duration = models.FloatField(default=0, help_text="Seconds the last computation took.")
    error = models.TextField(blank=True, help_text="Why the last computation failed, for an administrator.")
    result = models.JSONField(default=dict, blank=True)
    task_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="A task to compute it was sent at and has not started yet."
    )

    class Meta:
        verbose_name_plural = "invite analyses"

    def __str__(self) -> str:
        return f"analysis of {self.invite_id} ({self.computed}/{self.requested})"

    @property
    def pending(self) -> bool:
        return self.computed < self.requested


class BranchEvidence(models.Model):
    """What a branch head changes since the starting point, read from git once by the analysis worker.

    The reviewer's report shows it without running git: the commits (the latest COMMITS_MAX of
    portal.hosting.pulls), the diff (gitplumbing.diffs.Diff as JSON, within the pull requests'
    caps) and the shipped visible tests the branch changed or the tests it added. One row per
    head, never recomputed: a head is a commit and its changes do not move. Rows of heads that
    are no longer current are kept, so the state at an earlier push can still be read.
    """

    invite = models.ForeignKey("invites.Invite", on_delete=models.CASCADE, related_name="branch_evidence")
    branch = models.CharField(max_length=255)
    head = models.CharField(max_length=40)
    base = models.CharField(max_length=40, help_text="The starting point the changes are read against.")
    commits = models.JSONField(default=list, blank=True, help_text="gitplumbing.diffs.Commit dicts, oldest first.")
    commits_capped = models.BooleanField(default=False, help_text="Only the latest commits are kept.")
    diff = models.JSONField(default=dict, blank=True, help_text="A gitplumbing.diffs.Diff as a dict.")
    visible_test_changes = models.JSONField(
        default=list, blank=True, help_text="Test files the branch added, and shipped ones it changed or deleted."
    )
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "branch evidence"
        constraints = [
            models.UniqueConstraint(fields=["invite", "branch", "head"], name="scoring_branch_evidence_once"),
        ]

    def __str__(self) -> str:
        return f"{self.branch} at {self.head[:7]}"


class ContestDecision(models.Model):
    """A reviewer's word on a contested ticket: the hidden tests passed it on its branch while the
    candidate's own visible tests for it failed on the same commit, so its points wait for a person.

    Made on one commit of the ticket's branch: a new push makes a new contest, which waits again.
    The analysis copies decisions into the stored result (portal.scoring.analysis.contests_apply),
    so every page and export counts the points the same way.
    """

    class Decision(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed: the points count"
        OVERTURNED = "overturned", "Overturned: no points"

    NOTE_MAX = 1000

    invite = models.ForeignKey("invites.Invite", on_delete=models.CASCADE, related_name="contest_decisions")
    ticket = models.PositiveIntegerField()
    commit = models.CharField(max_length=40, help_text="The head of the ticket's branch the decision was made on.")
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, help_text="The run whose results were contested."
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField()
    note = models.TextField(blank=True, max_length=NOTE_MAX)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["invite", "ticket", "commit"], name="scoring_contest_decided_once"),
        ]

    def __str__(self) -> str:
        return f"#{self.ticket} at {self.commit[:7]}: {self.decision}"
