"""What the results endpoints answer and accept: the shape of results, runs, findings, pull requests,
reviews and events, for the responses and for the OpenAPI schema.

Output serializers only read: they take the selectors' dataclasses (and the rows) as they are,
so the API says what the pages say. Input serializers check the request's shape; the services
decide what may be done.
"""

from rest_framework import serializers

from portal.invites.models import Event
from portal.reviews.models import Review
from portal.scoring.models import VISIBLE_STATES, Run

STATES = (
    ("scored", "Scored: every run the result depends on is finished and analysed"),
    ("being_scored", "Being scored: runs are queued or running, or the analysis is being brought up to date"),
    ("not_scored", "Not scored yet: nothing was pushed, or nothing has been analysed"),
)


# --- Result -------------------------------------------------------------------------


class ContestTestOut(serializers.Serializer):
    name = serializers.CharField()
    outcome = serializers.CharField()


class ContestDecisionOut(serializers.Serializer):
    decision = serializers.ChoiceField(choices=("confirmed", "overturned"))
    by = serializers.CharField()
    at = serializers.DateTimeField()
    note = serializers.CharField(allow_blank=True)


class ContestOut(serializers.Serializer):
    branch = serializers.CharField()
    head = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    hidden = ContestTestOut(many=True, help_text="The ticket's hidden tests on that commit.")
    visible = ContestTestOut(many=True, help_text="The candidate's own tests for the ticket on that commit.")
    decision = ContestDecisionOut(allow_null=True, help_text="A reviewer's decision; null while it waits.")


class TicketOut(serializers.Serializer):
    number = serializers.IntegerField()
    title = serializers.CharField()
    points = serializers.IntegerField()
    branch = serializers.CharField(allow_null=True, help_text="The ticket's own branch (issue-<n>), if pushed.")
    passed = serializers.BooleanField(allow_null=True, help_text="Its hidden tests pass on its branch; null: not yet.")
    earned = serializers.IntegerField(help_text="The points counted: a contested ticket counts once confirmed.")
    waiting = serializers.BooleanField(help_text="Contested and not decided yet: not counted in the total.")
    contested = ContestOut(allow_null=True)


class CellOut(serializers.Serializer):
    ticket = serializers.IntegerField()
    passed = serializers.BooleanField(allow_null=True)
    tests_passed = serializers.IntegerField()
    tests_total = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True, help_text="Why the run was an error, if it was.")


class BranchOut(serializers.Serializer):
    branch = serializers.CharField()
    head = serializers.CharField()
    run = serializers.IntegerField(allow_null=True)
    run_status = serializers.ChoiceField(choices=Run.Status.choices, allow_null=True)
    tickets = CellOut(many=True, help_text="Each ticket's hidden tests on this branch's head.")


class ResultOut(serializers.Serializer):
    invite = serializers.CharField(help_text="The invite's public id.")
    candidate = serializers.CharField(help_text="The candidate's name (an alias for a reviewer on a blind assessment).")
    assessment = serializers.CharField()
    state = serializers.ChoiceField(choices=STATES)
    total = serializers.IntegerField(help_text="Points earned: confirmed tickets fixed on their own branch.")
    possible = serializers.IntegerField()
    contested_points = serializers.IntegerField(help_text="Points waiting for a reviewer: not in the total.")
    analysed_at = serializers.DateTimeField(allow_null=True)
    tickets = TicketOut(many=True)
    contested = serializers.ListField(child=serializers.IntegerField(), help_text="Numbers of the contested tickets.")
    branches = BranchOut(many=True, help_text="The analysed branches, main and the ticket branches first.")


# --- Runs ---------------------------------------------------------------------------


class VerdictOut(serializers.Serializer):
    ticket = serializers.IntegerField()
    passed = serializers.BooleanField()
    tests_passed = serializers.IntegerField()
    tests_total = serializers.IntegerField()


class RunOut(serializers.Serializer):
    id = serializers.IntegerField()
    invite = serializers.CharField()
    commit = serializers.CharField()
    ref = serializers.CharField(help_text='The branch, or "integrated" for the portal\'s merge of the ticket branches.')
    status = serializers.ChoiceField(choices=Run.Status.choices)
    summary = serializers.CharField(help_text="The run in words, as the pages say it.")
    reason = serializers.CharField(allow_blank=True, help_text="Why the run is an error, for a reviewer.")
    grader_version = serializers.CharField()
    queued_at = serializers.DateTimeField()
    dispatched_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    seconds = serializers.FloatField(allow_null=True, help_text="How long the scoring took.")
    verdicts = VerdictOut(many=True, help_text="Per ticket: did every hidden test of it pass?")


class TestOut(serializers.Serializer):
    name = serializers.CharField(help_text="The hidden test's name, never its file or source.")
    ticket = serializers.IntegerField(allow_null=True)
    outcome = serializers.CharField()
    duration = serializers.FloatField()
    message = serializers.CharField(allow_blank=True, help_text="The first line of a failure's message.")


class VisibleOut(serializers.Serializer):
    state = serializers.ChoiceField(
        # Named VisibleStateEnum in the schema (SPECTACULAR_SETTINGS' ENUM_NAME_OVERRIDES), "" apart.
        choices=["", *VISIBLE_STATES],
        help_text='Whether they ran: "pending" while they run (after the verdict, which never waits for them), '
        '"done", "failed" when they could not be run (see reason), "" when the run ended before they could.',
    )
    passed = serializers.IntegerField(allow_null=True)
    total = serializers.IntegerField(allow_null=True)
    failed = serializers.ListField(child=serializers.CharField())
    reused_from = serializers.IntegerField(
        allow_null=True,
        help_text="The run whose play gave these results, when they were reused: the same commit on the same "
        "assessment version gives the same results.",
    )
    reason = serializers.CharField(allow_blank=True, help_text="Why they could not be run (state failed).")


class RunDetailOut(RunOut):
    tests = TestOut(many=True)
    visible = VisibleOut(help_text="The candidate's own tests: information only.")


# --- Findings -------------------------------------------------------------------------


class FindingOut(serializers.Serializer):
    kind = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()
    ref = serializers.CharField(allow_null=True)
    ticket = serializers.IntegerField(allow_null=True)
    commits = serializers.ListField(child=serializers.CharField())
    paths = serializers.ListField(child=serializers.CharField())
    lines = serializers.ListField(child=serializers.CharField())


class LintOut(serializers.Serializer):
    path = serializers.CharField()
    line = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()


class MaskingOut(serializers.Serializer):
    path = serializers.CharField()
    line = serializers.IntegerField()
    kind = serializers.CharField()
    message = serializers.CharField()


class QualityOut(serializers.Serializer):
    branch = serializers.CharField()
    files_changed = serializers.IntegerField()
    lines_added = serializers.IntegerField()
    lines_removed = serializers.IntegerField()
    files = serializers.ListField(child=serializers.CharField())
    new_lint = LintOut(many=True)
    lint_error = serializers.CharField(allow_null=True)
    notes = serializers.ListField(child=serializers.CharField())
    masking = MaskingOut(many=True)


class FindingsOut(serializers.Serializer):
    invite = serializers.CharField()
    state = serializers.ChoiceField(choices=STATES)
    analysed_at = serializers.DateTimeField(allow_null=True)
    findings = FindingOut(many=True, help_text="How the candidate worked in git.")
    disagreements = FindingOut(many=True, help_text="Hidden tests and the candidate's own tests disagree.")
    quality = QualityOut(many=True, help_text="Code-quality signals per branch.")


# --- Pull requests ------------------------------------------------------------------


class PullOut(serializers.Serializer):
    id = serializers.IntegerField()
    invite = serializers.CharField(source="invite.public_id")
    number = serializers.IntegerField()
    branch = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField(source="description", allow_blank=True, help_text="Markdown as written, never HTML.")
    closes = serializers.ListField(child=serializers.IntegerField())
    head_sha = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CommitOut(serializers.Serializer):
    sha = serializers.CharField()
    author = serializers.CharField()
    author_email = serializers.CharField(allow_blank=True)
    authored_at = serializers.DateTimeField(allow_null=True)
    subject = serializers.CharField(allow_blank=True)
    body = serializers.CharField(allow_blank=True)


class DiffLineOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=("context", "add", "del", "note"))
    text = serializers.CharField(allow_blank=True)
    old = serializers.IntegerField(allow_null=True)
    new = serializers.IntegerField(allow_null=True)


class HunkOut(serializers.Serializer):
    header = serializers.CharField(allow_blank=True)
    lines = DiffLineOut(many=True)


class FileDiffOut(serializers.Serializer):
    path = serializers.CharField()
    old_path = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    additions = serializers.IntegerField(allow_null=True)
    deletions = serializers.IntegerField(allow_null=True)
    binary = serializers.BooleanField()
    shown = serializers.BooleanField(help_text="False: the file's changes did not fit within the caps.")
    hunks = HunkOut(many=True)


class DiffOut(serializers.Serializer):
    files = FileDiffOut(many=True)
    unlisted = serializers.IntegerField(help_text="Changed files beyond those listed.")
    capped = serializers.BooleanField(help_text="Some files are not shown: the diff is capped as on the pages.")
    no_common_history = serializers.BooleanField()


class PullHeadOut(serializers.Serializer):
    sha = serializers.CharField()
    deleted = serializers.BooleanField()
    moved = serializers.BooleanField(help_text="The branch changed since the pull request was opened or edited.")
    main = serializers.CharField(allow_null=True)
    base = serializers.CharField(allow_null=True)


class PullDetailOut(PullOut):
    head = PullHeadOut()
    commits = CommitOut(many=True)
    commits_capped = serializers.BooleanField()
    diff = DiffOut()


# --- Reviews ----------------------------------------------------------------------


class ReviewOut(serializers.Serializer):
    id = serializers.IntegerField()
    invite = serializers.CharField(source="invite.public_id")
    reviewer = serializers.CharField(source="reviewer.username")
    rubric_version = serializers.IntegerField(source="rubric.version")
    status = serializers.ChoiceField(choices=Review.Status.choices)
    scores = serializers.DictField(child=serializers.IntegerField(), help_text="Criterion key: level 1 to 4.")
    comments = serializers.DictField(child=serializers.CharField(), help_text="Criterion key: note.")
    recommendation = serializers.CharField(allow_blank=True)
    summary = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)


class ReviewsOut(serializers.Serializer):
    hidden = serializers.BooleanField(
        help_text="Others' reviews are withheld until you submit your own, so nobody is anchored by them."
    )
    reviews = ReviewOut(many=True)


class ReviewIn(serializers.Serializer):
    scores = serializers.DictField(
        child=serializers.IntegerField(min_value=1, max_value=4),
        required=False,
        default=dict,
        help_text="Criterion key: level 1 to 4 (the rubric's keys).",
    )
    comments = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=5_000),
        required=False,
        default=dict,
        help_text="Criterion key: a note.",
    )
    recommendation = serializers.ChoiceField(choices=Review.Recommendation.choices, required=False, allow_blank=True)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    submit = serializers.BooleanField(
        required=False, default=False, help_text="Submit the review (it never changes again); otherwise a draft."
    )


# --- Events -----------------------------------------------------------------------


class EventCandidateOut(serializers.Serializer):
    name = serializers.CharField()
    email = serializers.EmailField()


class EventOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Event.Kind.choices)
    at = serializers.DateTimeField()
    invite = serializers.CharField(source="invite.public_id")
    candidate = EventCandidateOut(source="invite.candidate")
    assessment = serializers.CharField(source="invite.assessment_version.assessment.title")
    data = serializers.DictField(help_text="What the event says (who, which run, ...); never a token.")


class EventsQuery(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text="Events at or after this time (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Events before this time (ISO 8601).")
    invite = serializers.CharField(required=False, max_length=32, help_text="One invite's events (its public id).")

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["until"] <= attrs["since"]:
            raise serializers.ValidationError({"until": ["Must be later than since."]})
        return attrs
