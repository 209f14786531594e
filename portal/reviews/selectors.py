"""Reading reviews: the queue, what a reviewer may see of others' judgement, calibration, suggestions.

Nothing here writes. Query counts do not grow with the number of invites or reviews: the queue is
two queries, calibration one, and suggestions read the stored analysis (never git).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import mean

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.timesince import timesince

from portal.accounts.roles import RECRUITER, REVIEWER
from portal.assessments.models import Assessment
from portal.hosting.models import PullRequest
from portal.invites.models import Invite
from portal.reviews.models import AssessmentReviewer, Assignment, Feedback, Review, ReviewComment, Rubric
from portal.scoring.hygiene import PROBLEM, WARNING, Finding
from portal.scoring.models import BranchEvidence, Run
from portal.scoring.selectors import BranchEvidenceView, invite_result, tickets_score

QUEUE_VIEWS = ("mine", "unassigned", "done", "all")
QUEUE_PAGE_SIZE = 50

# --- Who may review what -----------------------------------------------------


def reviewer_allowed(*, user, assessment: Assessment) -> bool:
    """A reviewer may review an assessment's invites unless it names its reviewers and not them."""
    if not user.is_active or not user.has_perm(REVIEWER.permission):
        return False
    if user.is_superuser:
        return True
    named = AssessmentReviewer.objects.filter(assessment=assessment)
    return not named.exists() or named.filter(user=user).exists()


def sees_all_reviews(user) -> bool:
    """Recruiters and staff read every submitted review at once; they do not score, so nothing anchors them."""
    return user.is_staff or user.has_perm(RECRUITER.permission)


def reviewers_allowed(*, assessment: Assessment) -> list:
    """The active users who may review this assessment's invites, by username: the choices to assign."""
    User = get_user_model()
    users = (
        User.objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(
                groups__permissions__codename=REVIEWER.codename, groups__permissions__content_type__app_label="accounts"
            )
            | Q(user_permissions__codename=REVIEWER.codename, user_permissions__content_type__app_label="accounts")
        )
        .distinct()
        .order_by("username")
    )
    named = AssessmentReviewer.objects.filter(assessment=assessment)
    if named.exists():
        users = users.filter(Q(is_superuser=True) | Q(pk__in=named.values("user")))
    return list(users)


def _allowed_invites(user) -> QuerySet[Invite]:
    invites = Invite.objects.filter(status=Invite.Status.SUBMITTED)
    if user.is_superuser:
        return invites
    named = AssessmentReviewer.objects.filter(assessment=OuterRef("assessment_version__assessment"))
    return invites.filter(~Exists(named) | Exists(named.filter(user=user)))


# --- The queue ---------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    invite: Invite
    waited: timedelta
    assignees: list
    assigned_to_me: bool
    my_review: str  # "", "draft" or "submitted"
    submitted_reviews: int
    earned: int | None = None  # points, from the stored analysis (None before the first one)
    possible: int | None = None
    scoring: bool = False  # a run of the invite is queued or running: the score may still change

    @property
    def waited_words(self) -> str:
        """'3 days': the largest unit only; the exact moment is in the page's title text."""
        if self.waited < timedelta(minutes=1):
            return "just now"
        now = timezone.now()
        return timesince(now - self.waited, now, depth=1).replace("\xa0", " ")


QUEUE_ORDERS = ("waiting", "newest")


def review_queue(
    *, user, view: str = "mine", assessment: Assessment | None = None, order: str = "waiting"
) -> list[QueueItem]:
    """Submitted invites the user may review, for one tab of the queue: the longest waiting first
    (``order="waiting"``, by submission), or the latest submitted first (``"newest"``).

    mine: assigned to the user or drafted by them, and not yet reviewed by them; unassigned: nobody
    is assigned; done: the user has submitted a review; all: every invite the user may review.
    """
    return _queue_items(_queue_invites(user=user, view=view, assessment=assessment, order=order), user=user)


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    number: int
    num_pages: int
    count: int


def review_queue_page(
    *, user, view: str = "mine", assessment: Assessment | None = None, page: int | str = 1, order: str = "waiting"
) -> QueuePage:
    """One page of review_queue (QUEUE_PAGE_SIZE invites); ``page`` is clamped like the dashboard's."""
    invites = _queue_invites(user=user, view=view, assessment=assessment, order=order)
    current = Paginator(invites, QUEUE_PAGE_SIZE).get_page(page)
    return QueuePage(
        items=_queue_items(current.object_list, user=user),
        number=current.number,
        num_pages=current.paginator.num_pages,
        count=current.paginator.count,
    )


def _queue_invites(*, user, view: str, assessment: Assessment | None, order: str = "waiting"):
    if view not in QUEUE_VIEWS:
        raise ValueError(f"unknown queue view {view!r}")
    if order not in QUEUE_ORDERS:
        raise ValueError(f"unknown queue order {order!r}")
    mine = Review.objects.filter(invite=OuterRef("pk"), reviewer=user)
    assigned = Assignment.objects.filter(invite=OuterRef("pk"))
    invites = _allowed_invites(user)
    if assessment is not None:
        invites = invites.filter(assessment_version__assessment=assessment)
    if view == "mine":
        invites = invites.filter(Exists(assigned.filter(reviewer=user)) | Exists(mine)).exclude(
            Exists(mine.filter(status=Review.Status.SUBMITTED))
        )
    elif view == "unassigned":
        invites = invites.filter(~Exists(assigned))
    elif view == "done":
        invites = invites.filter(Exists(mine.filter(status=Review.Status.SUBMITTED)))
    invites = (
        invites.select_related("candidate", "assessment_version__assessment")
        .annotate(
            my_review=Subquery(mine.values("status")[:1]),
            submitted_reviews=Count("reviews", filter=Q(reviews__status=Review.Status.SUBMITTED), distinct=True),
            # Only the analysis' ticket list: its full result (branches, findings) can be large.
            score_tickets=F("analysis__result__tickets"),
            scoring=Exists(Run.objects.filter(invite=OuterRef("pk"), status__in=Run.ACTIVE)),
        )
        .prefetch_related(
            Prefetch("review_assignments", queryset=Assignment.objects.select_related("reviewer"), to_attr="assigned")
        )
        .order_by(*(("submitted_at", "id") if order == "waiting" else ("-submitted_at", "-id")))
    )
    return invites


def _queue_items(invites, *, user) -> list[QueueItem]:
    now = timezone.now()
    return [
        QueueItem(
            invite=invite,
            waited=now - (invite.submitted_at or now),
            assignees=[a.reviewer for a in invite.assigned],
            assigned_to_me=any(a.reviewer_id == user.pk for a in invite.assigned),
            my_review=invite.my_review or "",
            submitted_reviews=invite.submitted_reviews,
            earned=score[0],
            possible=score[1],
            scoring=invite.scoring,
        )
        for invite in invites
        for score in [tickets_score(invite.score_tickets)]
    ]


def queue_default_view(*, user) -> str:
    """Where the queue opens: the user's own work if they have any, else what nobody has taken."""
    done = Review.objects.filter(invite=OuterRef("invite"), reviewer=user, status=Review.Status.SUBMITTED)
    submitted = Invite.Status.SUBMITTED
    open_work = Assignment.objects.filter(reviewer=user, invite__status=submitted).exclude(Exists(done))
    drafts = Review.objects.filter(reviewer=user, status=Review.Status.DRAFT, invite__status=submitted)
    return "mine" if open_work.exists() or drafts.exists() else "unassigned"


def assessments_reviewable(*, user) -> list[Assessment]:
    """The assessments with submitted invites the user may review: the queue's filter."""
    ids = _allowed_invites(user).values("assessment_version__assessment")
    return list(Assessment.objects.filter(pk__in=ids).order_by("title"))


# --- One invite's reviews ------------------------------------------------------


def review_of(*, invite: Invite, reviewer) -> Review | None:
    return Review.objects.select_related("rubric").filter(invite=invite, reviewer=reviewer).first()


def invite_assignees(*, invite: Invite) -> list:
    return [a.reviewer for a in Assignment.objects.filter(invite=invite).select_related("reviewer")]


@dataclass(frozen=True)
class ReviewerLevel:
    reviewer: str
    level: int


@dataclass(frozen=True)
class CriterionAggregate:
    key: str
    title: str
    levels: list[ReviewerLevel]

    @property
    def mean(self) -> float | None:
        return round(mean(x.level for x in self.levels), 2) if self.levels else None

    @property
    def spread(self) -> int | None:
        values = [x.level for x in self.levels]
        return max(values) - min(values) if values else None


@dataclass
class Aggregate:
    """What the user may see of an invite's submitted reviews; nothing at all while ``hidden``."""

    hidden: bool
    reviews: list[Review] = field(default_factory=list)
    criteria: list[CriterionAggregate] = field(default_factory=list)

    @property
    def recommendations(self) -> list[tuple[str, str]]:
        return [(r.reviewer.get_username(), r.get_recommendation_display()) for r in self.reviews]


def review_aggregate(*, invite: Invite, for_user) -> Aggregate:
    """Submitted reviews of the invite, per criterion with each reviewer's level, the mean and the spread.

    A reviewer sees others' scores only once they have submitted their own, so that nobody is
    anchored by a colleague's numbers; recruiters and staff see every submitted review.
    """
    submitted = list(
        Review.objects.filter(invite=invite, status=Review.Status.SUBMITTED)
        .select_related("reviewer", "rubric")
        .order_by("submitted_at", "id")
    )
    own_submitted = any(r.reviewer_id == for_user.pk for r in submitted)
    if not own_submitted and not sees_all_reviews(for_user):
        return Aggregate(hidden=True)
    # Reviews may span rubric versions: criteria are matched by key, titled by the newest rubric used.
    titles: dict[str, str] = {}
    for review in sorted(submitted, key=lambda r: r.rubric.version):
        titles.update({c["key"]: c["title"] for c in review.rubric.criteria})
    criteria = [
        CriterionAggregate(
            key=key,
            title=title,
            levels=[ReviewerLevel(r.reviewer.get_username(), r.scores[key]) for r in submitted if key in r.scores],
        )
        for key, title in titles.items()
    ]
    return Aggregate(hidden=False, reviews=submitted, criteria=criteria)


def invite_recommendations(invite_ids) -> dict[int, list[str]]:
    """Invite id -> the recommendations of its submitted reviews ("yes", "strong_no", ...), in one query."""
    found: dict[int, list[str]] = defaultdict(list)
    rows = (
        Review.objects.filter(invite_id__in=list(invite_ids), status=Review.Status.SUBMITTED)
        .order_by("submitted_at", "id")
        .values_list("invite_id", "recommendation")
    )
    for invite_id, recommendation in rows:
        found[invite_id].append(recommendation)
    return dict(found)


# --- Calibration ---------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationRow:
    reviewer: str
    criterion: str
    reviews: int
    mean: float
    strictness: float | None  # mean of (my level - the others' mean) on co-reviewed invites; < 0 is stricter
    agreement: float | None  # share of co-reviews (me and one other on one invite) within one level
    co_reviews: int


def calibration(*, assessment: Assessment | None = None) -> list[CalibrationRow]:
    """Per reviewer and criterion: how many reviews, the mean level, strictness and agreement.

    One query over submitted reviews. Strictness compares each level with the mean of the other
    reviewers of the same invite; agreement counts the pairs (me, another reviewer) on the same
    invite and criterion whose levels are at most one apart.
    """
    reviews = Review.objects.filter(status=Review.Status.SUBMITTED)
    if assessment is not None:
        reviews = reviews.filter(invite__assessment_version__assessment=assessment)
    rows = reviews.values_list("invite_id", "reviewer__username", "scores", "rubric__criteria")
    by_invite: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)  # (invite, criterion) -> reviewer: level
    # Criteria in their rubric's order: a JSON object's key order is not kept by every database.
    order: dict[str, None] = {}
    for invite_id, username, scores, criteria in rows:
        for criterion in criteria or ():
            if isinstance(criterion, dict) and "key" in criterion:
                order.setdefault(criterion["key"], None)
        for key, level in (scores or {}).items():
            if isinstance(level, int):
                by_invite[(invite_id, key)][username] = level
                order.setdefault(key, None)
    levels: dict[tuple[str, str], list[int]] = defaultdict(list)
    deviations: dict[tuple[str, str], list[float]] = defaultdict(list)
    pairs: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for (_, key), scored in by_invite.items():
        for username, level in scored.items():
            levels[(username, key)].append(level)
            others = [v for u, v in scored.items() if u != username]
            if others:
                deviations[(username, key)].append(level - mean(others))
                pairs[(username, key)].extend(abs(level - other) <= 1 for other in others)
    criterion_rank = {key: i for i, key in enumerate(order)}
    return [
        CalibrationRow(
            reviewer=username,
            criterion=key,
            reviews=len(values),
            mean=round(mean(values), 2),
            strictness=round(mean(deviations[(username, key)]), 2) if deviations[(username, key)] else None,
            agreement=round(sum(pairs[(username, key)]) / len(pairs[(username, key)]), 2)
            if pairs[(username, key)]
            else None,
            co_reviews=len(pairs[(username, key)]),
        )
        for (username, key), values in sorted(levels.items(), key=lambda item: (criterion_rank[item[0][1]], item[0][0]))
    ]


# --- Suggestions from the stored analysis ----------------------------------------


@dataclass(frozen=True)
class Suggestion:
    """A level the portal's own signals point to, and why; a reviewer's hint, never a score."""

    level: int
    reason: str

    @property
    def label(self) -> str:
        return f"Suggested: {self.level} — {self.reason}"


def rubric_suggestions(*, invite: Invite) -> dict[str, Suggestion]:
    """Criterion key -> a suggested level where the stored analysis or the pull requests say something.

    Version control from the git-hygiene findings, code quality from the lint findings the branches
    introduce, communication from the pull requests. Thought process needs a human: no suggestion.
    """
    result = invite_result(invite=invite)
    suggestions: dict[str, Suggestion] = {}
    if result.analysed:
        suggestions["version_control"] = _version_control(result.hygiene_findings)
        quality = _code_quality(result.quality)
        if quality is not None:
            suggestions["code_quality"] = quality
    suggestions["communication"] = _communication(list(PullRequest.objects.filter(invite=invite)))
    return suggestions


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _version_control(findings: list[Finding]) -> Suggestion:
    problems = sum(f.severity == PROBLEM for f in findings)
    warnings = sum(f.severity == WARNING for f in findings)
    if problems:
        level = 1 if problems >= 2 else 2
        reason = _count(problems, "problem") + (f" and {_count(warnings, 'warning')}" if warnings else "")
        return Suggestion(level, f"{reason} in git hygiene")
    if warnings:
        return Suggestion(2 if warnings >= 4 else 3, f"{_count(warnings, 'warning')} in git hygiene")
    return Suggestion(4, "no git-hygiene warnings")


def _code_quality(quality) -> Suggestion | None:
    linted = [q for q in quality if q.lint_error is None]
    if not linted:
        return None
    new = sum(len(q.new_lint) for q in linted)
    level = 4 if new == 0 else 3 if new <= 2 else 2 if new <= 9 else 1
    branches = f"{len(linted)} branch{'' if len(linted) == 1 else 'es'}"
    return Suggestion(level, f"{_count(new, 'new lint finding')} on {branches}")


# A description shorter than this says what, rarely why.
DESCRIBED_CHARS = 100


def _communication(pulls: list[PullRequest]) -> Suggestion:
    if not pulls:
        return Suggestion(1, "no pull requests")
    described = sum(len(p.description.strip()) >= DESCRIBED_CHARS for p in pulls)
    linked = sum(bool(p.closes) for p in pulls)
    reason = f"{described} of {_count(len(pulls), 'pull request')} described, {linked} linked to tickets"
    if described == len(pulls) and linked == len(pulls):
        return Suggestion(4, reason)
    if described * 2 >= len(pulls):
        return Suggestion(3, reason)
    return Suggestion(2 if described or linked else 1, reason)


def rubric_latest(*, assessment: Assessment) -> Rubric | None:
    return Rubric.objects.filter(assessment=assessment).order_by("-version").first()


# --- Reminders ---------------------------------------------------------------


def open_assignments_by_reviewer() -> dict:
    """Reviewer -> their assignments on submitted invites they have not reviewed yet, oldest first."""
    done = Review.objects.filter(
        invite=OuterRef("invite"), reviewer=OuterRef("reviewer"), status=Review.Status.SUBMITTED
    )
    assignments = (
        Assignment.objects.filter(invite__status=Invite.Status.SUBMITTED, reviewer__is_active=True)
        .exclude(Exists(done))
        .select_related("reviewer", "invite__candidate", "invite__assessment_version__assessment")
        .order_by("reviewer_id", "invite__submitted_at", "id")
    )
    found: dict = defaultdict(list)
    for assignment in assignments:
        found[assignment.reviewer].append(assignment)
    return dict(found)


# --- Comments on the diff, and the candidate's feedback ---------------------------


def diff_line(diff: dict, *, path: str, side: str, line: int) -> str | None:
    """The text of the line a comment on (path, side, line) speaks of in a stored diff; None if none.

    Only lines the report shows may carry a comment: an added or unchanged line by its new number,
    a deleted one by its old number, in a file whose changes were kept.
    """
    kinds = ("del",) if side == ReviewComment.Side.OLD else ("add", "context")
    number = "old" if side == ReviewComment.Side.OLD else "new"
    for entry in diff.get("files", ()):
        if entry.get("path") != path or not entry.get("shown") or entry.get("binary"):
            continue
        for hunk in entry.get("hunks", ()):
            for row in hunk.get("lines", ()):
                if row.get("kind") in kinds and row.get(number) == line:
                    return row.get("text", "")
    return None


def _code_lines(*, invite: Invite, comments: list[ReviewComment]) -> dict[int, str | None]:
    """Comment id -> the code line it is on, read from the stored evidence of its commit (one query)."""
    pairs = {(c.branch, c.commit) for c in comments}
    if not pairs:
        return {}
    match = Q()
    for branch, head in pairs:
        match |= Q(branch=branch, head=head)
    diffs = {
        (row.branch, row.head): row.diff
        for row in BranchEvidence.objects.filter(invite=invite).filter(match).only("branch", "head", "diff")
    }
    return {
        c.pk: diff_line(diffs.get((c.branch, c.commit), {}), path=c.path, side=c.side, line=c.line) for c in comments
    }


@dataclass(frozen=True)
class CommentedRow:
    """A row of the report's diff (portal.scoring.highlight.Row) with the comments made on it."""

    kind: str
    old: int | None
    new: int | None
    html: str
    side: str  # "" on rows that take no comment (hunk headers, notes)
    line: int | None
    comments: list[ReviewComment]


@dataclass(frozen=True)
class CommentedFile:
    file: object  # gitplumbing.diffs.FileDiff
    flag: str
    rows: list[CommentedRow]


@dataclass(frozen=True)
class EarlierComment:
    comment: ReviewComment
    code: str | None  # the line as it was at the comment's commit


@dataclass(frozen=True)
class CommentedBranch:
    """A BranchEvidenceView's diff with comments on its lines, and those made on earlier heads."""

    branch: str
    head: str
    diff: object  # gitplumbing.diffs.Diff or None
    files: list[CommentedFile]
    earlier: list[EarlierComment]
    test_changes: list = field(default_factory=list)  # portal.scoring.selectors.TestFileChange


@dataclass(frozen=True)
class DiffComments:
    branches: list[CommentedBranch]
    gone: list[EarlierComment]  # on branches that are no longer pushed
    released: bool  # the feedback is out: comments no longer change
    count: int


def _row_place(kind: str, old: int | None, new: int | None) -> tuple[str, int | None]:
    if kind == "del":
        return ReviewComment.Side.OLD, old
    if kind in ("add", "context"):
        return ReviewComment.Side.NEW, new
    return "", None


def diff_comments(*, invite: Invite, evidence: list[BranchEvidenceView]) -> DiffComments:
    """The report's diffs with every comment under its line: two queries, three with earlier comments.

    A comment belongs under a line only if it was made on the branch's current head; the others are
    listed at the end of their branch, with the line as it was, never matched to today's lines.
    """
    comments = list(ReviewComment.objects.filter(invite=invite).select_related("author"))
    released = Feedback.objects.filter(invite=invite, released_at__isnull=False).exists()
    heads = {view.branch: view.head for view in evidence}
    on_line: dict[tuple, list[ReviewComment]] = defaultdict(list)
    earlier = []
    for comment in comments:
        if heads.get(comment.branch) == comment.commit:
            on_line[(comment.branch, comment.path, comment.side, comment.line)].append(comment)
        else:
            earlier.append(comment)
    codes = _code_lines(invite=invite, comments=earlier)
    branches = []
    for view in evidence:
        files = []
        for item in view.files:
            rows = []
            for row in item.rows:
                side, line = _row_place(row.kind, row.old, row.new)
                found = on_line.get((view.branch, item.file.path, side, line), []) if side else []
                rows.append(CommentedRow(row.kind, row.old, row.new, row.html, side, line, found))
            files.append(CommentedFile(file=item.file, flag=item.flag, rows=rows))
        before = [EarlierComment(c, codes.get(c.pk)) for c in earlier if c.branch == view.branch]
        branches.append(CommentedBranch(view.branch, view.head, view.diff, files, before, view.test_changes))
    gone = [EarlierComment(c, codes.get(c.pk)) for c in earlier if c.branch not in heads]
    return DiffComments(branches=branches, gone=gone, released=released, count=len(comments))


def invite_closed(invite: Invite) -> bool:
    """Closed for the candidate: submitted, or past its deadline (a revoked invite gets no feedback)."""
    if invite.status == Invite.Status.SUBMITTED:
        return True
    return invite.status == Invite.Status.ACTIVE and invite.is_expired(timezone.now())


def may_release_feedback(*, user, invite: Invite) -> bool:
    return sees_all_reviews(user) or reviewer_allowed(user=user, assessment=invite.assessment_version.assessment)


@dataclass(frozen=True)
class FeedbackPanel:
    """The review form's "Feedback for the candidate" section."""

    closed: bool
    may_release: bool
    feedback: Feedback | None
    shared: list[ReviewComment]

    @property
    def released(self) -> bool:
        return self.feedback is not None and self.feedback.released_at is not None


def feedback_panel(*, invite: Invite, user) -> FeedbackPanel:
    shared = ReviewComment.objects.filter(invite=invite, visibility=ReviewComment.Visibility.SHARED)
    return FeedbackPanel(
        closed=invite_closed(invite),
        may_release=may_release_feedback(user=user, invite=invite),
        feedback=Feedback.objects.filter(invite=invite).select_related("released_by").first(),
        shared=list(shared.select_related("author")),
    )


@dataclass(frozen=True)
class SharedComment:
    """A comment as the candidate reads it: by "Reviewer N", never by name."""

    reviewer: str
    branch: str
    path: str
    side: str
    line: int
    code: str | None
    body: str


@dataclass(frozen=True)
class ReleasedFeedback:
    summary: str
    released_at: object
    comments: list[SharedComment]


def feedback_released(*, invite: Invite) -> ReleasedFeedback | None:
    """The feedback the candidate may read; None until it is released. Three queries at most.

    Reviewers are numbered in the order of their first shared comment; the authors' rows are not
    even read, so no name or address can reach the candidate's page.
    """
    feedback = Feedback.objects.filter(invite=invite, released_at__isnull=False).first()
    if feedback is None:
        return None
    shared = list(
        ReviewComment.objects.filter(invite=invite, visibility=ReviewComment.Visibility.SHARED).order_by(
            "created_at", "id"
        )
    )
    labels: dict[int, str] = {}
    for comment in shared:
        labels.setdefault(comment.author_id, f"Reviewer {len(labels) + 1}")
    codes = _code_lines(invite=invite, comments=shared)
    return ReleasedFeedback(
        summary=feedback.summary,
        released_at=feedback.released_at,
        comments=[
            SharedComment(
                reviewer=labels[c.author_id],
                branch=c.branch,
                path=c.path,
                side=c.side,
                line=c.line,
                code=codes.get(c.pk),
                body=c.body,
            )
            for c in shared
        ],
    )
