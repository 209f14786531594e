"""The recruiter's pipeline, read across several apps: the stage, score and next step of each invite.

The stage of an invite is computed in SQL (one Case over Exists subqueries) so that the
dashboard filters, sorts, counts and paginates in the database: a page costs the same number
of queries at 3 invites as at 10,000. It is the one truth about where an invite stands: the
dashboard's rows and counts, the invite's page, the pictures and the CSV export all read it here.

The stage is a function of facts, not of when a task last ran:

- *scored* means there is a stored result and nothing of the invite is being scored: a page never
  says "Scored" beside "Not scored yet".
- When time runs out, the work pushed by then is the submission ("submitted at the deadline"):
  the invite is submitted, then scored, whether or not the close task (invites.close_expired) has
  marked it submitted yet. An invite whose time ran out with nothing pushed is *expired*, before and
  after the close task. So the close task moves no invite from one stage to another, and no count
  drops on its own. A candidate who submits with nothing pushed is *submitted* (their choice).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.core.paginator import Paginator
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Least
from django.utils import timezone

from portal.assessments.models import Assessment
from portal.hosting.models import Push
from portal.integrity.selectors import Flag, similarity_flags
from portal.invites.models import Email, Event, Invite
from portal.reviews.models import Review
from portal.reviews.selectors import invite_recommendations
from portal.scoring.models import InviteAnalysis, Run
from portal.scoring.selectors import RUNS_SCORING, ticket_state, tickets_contested, tickets_score

# Pipeline order, then the two terminal states; a stage's index is its rank in SQL.
STAGES = ("invited", "opened", "cloned", "pushed", "submitted", "scored", "reviewed", "expired", "revoked")
PIPELINE_PAGE_SIZE = 25

# Sort name -> (label, ordering). Every ordering ends on -pk so pages are stable.
SORTS = {
    "activity": ("Last activity", (F("last_activity").desc(nulls_last=True), "-pk")),
    "newest": ("Newest invite", ("-created_at", "-pk")),
    "name": ("Name", ("candidate__name", "candidate__email", "-pk")),
    "deadline": ("Deadline", (F("closes_at").asc(nulls_last=True), "-pk")),
    "stage": ("Stage", ("stage_rank", F("last_activity").desc(nulls_last=True), "-pk")),
}
DEFAULT_SORT = "activity"


@dataclass(frozen=True)
class PipelineRow:
    public_id: str
    candidate_name: str
    candidate_email: str
    assessment_title: str
    stage: str
    created_at: datetime
    last_activity: datetime | None
    closes_at: datetime | None
    time_limit: timedelta | None
    earned: int | None  # contested points waiting for a reviewer are not in it
    possible: int | None
    contested: int = 0  # points of contested tickets waiting for a reviewer's decision
    # Anything pushed; runs or the analysis of the invite still to finish; an invitation email waiting.
    pushed: bool = False
    scoring: bool = False
    emailing: bool = False
    open: bool = False  # the invite is active: its candidate may still open, clone or push
    # The recommendations of submitted reviews, labelled ("Strong yes"); filled for the dashboard's page.
    recommendations: tuple[str, ...] = ()
    # The closest similar submission, when at or above the assessment's flag; filled for the dashboard's page.
    similarity: Flag | None = None

    @property
    def pending(self) -> bool:
        """Something may change this row by itself: the page showing it keeps itself up to date."""
        return self.open or self.scoring or self.emailing

    @property
    def clock_not_started(self) -> bool:
        """A time limit whose clock starts at the first clone, which has not happened yet."""
        return self.closes_at is None and self.time_limit is not None


@dataclass(frozen=True)
class PipelinePage:
    rows: list[PipelineRow]
    number: int
    num_pages: int
    count: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages


def _rank(stage: str) -> Value:
    return Value(STAGES.index(stage))


def _event(kind: str) -> Exists:
    return Exists(Event.objects.filter(invite=OuterRef("pk"), kind=kind))


def _closes_at():
    """Invite.closes_at in SQL: the deadline, or the end of a started time limit, whichever is first."""
    limit_ends = ExpressionWrapper(F("started_at") + F("time_limit"), output_field=DateTimeField())
    limit_running = Q(started_at__isnull=False, time_limit__isnull=False)
    return Case(
        When(Q(deadline__isnull=False) & limit_running, then=Least("deadline", limit_ends)),
        When(limit_running, then=limit_ends),
        default=F("deadline"),
        output_field=DateTimeField(),
    )


def pipeline_invites(*, now: datetime | None = None) -> QuerySet[Invite]:
    """Every invite annotated with ``stage_rank`` (an index into STAGES), ``closes_at``, ``last_activity``,
    and the flags ``pushed``, ``scoring`` and ``emailing`` (see the module's docstring for the rules)."""
    now = now or timezone.now()
    runs_pending = Exists(Run.objects.filter(RUNS_SCORING, invite=OuterRef("pk")))
    analysis_pending = Exists(InviteAnalysis.objects.filter(invite=OuterRef("pk"), computed__lt=F("requested")))
    analysed = Exists(InviteAnalysis.objects.filter(invite=OuterRef("pk"), computed_at__isnull=False))
    last_activity = Event.objects.filter(invite=OuterRef("pk")).order_by().values("invite").annotate(m=Max("at"))
    submitted = Q(status=Invite.Status.SUBMITTED)
    # The candidate pressed Submit: before the invite closed (the close task dates its submission at the close).
    by_candidate = submitted & (Q(closes_at__isnull=True) | Q(submitted_at__lt=F("closes_at")))
    time_over = submitted | Q(status=Invite.Status.ACTIVE, closes_at__lte=now)
    return (
        Invite.objects.annotate(closes_at=_closes_at())
        .annotate(
            last_activity=Subquery(last_activity.values("m"), output_field=DateTimeField()),
            pushed=Exists(Push.objects.filter(invite=OuterRef("pk"))),
            runs_pending=runs_pending,
            analysis_pending=analysis_pending,
            analysed=analysed,
            emailing=Exists(Email.objects.filter(invite=OuterRef("pk"), status=Email.Status.QUEUED)),
        )
        .annotate(
            scoring=Case(
                When(Q(runs_pending=True) | Q(analysis_pending=True), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .annotate(
            stage_rank=Case(
                When(status=Invite.Status.REVOKED, then=_rank("revoked")),
                When(_event(Event.Kind.REVIEWED), then=_rank("reviewed")),
                When(time_over & Q(pushed=False) & ~by_candidate, then=_rank("expired")),
                When(time_over & Q(analysed=True, scoring=False), then=_rank("scored")),
                When(time_over, then=_rank("submitted")),
                When(pushed=True, then=_rank("pushed")),
                When(Q(started_at__isnull=False) | _event(Event.Kind.CLONED), then=_rank("cloned")),
                When(_event(Event.Kind.OPENED), then=_rank("opened")),
                default=_rank("invited"),
                output_field=IntegerField(),
            ),
        )
    )


def pipeline_assessments() -> list[tuple[str, str]]:
    """(slug, title) of every assessment, for the filter."""
    return list(Assessment.objects.order_by("title").values_list("slug", "title"))


def pipeline_stage_counts(*, assessment: str = "", now: datetime | None = None) -> dict[str, int]:
    """How many invites are in each stage (every stage present, zeros included); one query."""
    invites = pipeline_invites(now=now)
    if assessment:
        invites = invites.filter(assessment_version__assessment__slug=assessment)
    counted = dict(invites.order_by().values_list("stage_rank").annotate(n=Count("pk")))
    return {stage: counted.get(rank, 0) for rank, stage in enumerate(STAGES)}


def pipeline_invites_filtered(
    *, assessment: str = "", stage: str = "", search: str = "", now: datetime | None = None
) -> QuerySet[Invite]:
    """The invites the dashboard's filters select (an assessment's slug, a stage, a search in names and
    emails), with their stage computed as in ``pipeline_invites``."""
    invites = pipeline_invites(now=now)
    if assessment:
        invites = invites.filter(assessment_version__assessment__slug=assessment)
    if stage in STAGES:
        invites = invites.filter(stage_rank=STAGES.index(stage))
    if search:
        invites = invites.filter(Q(candidate__name__icontains=search) | Q(candidate__email__icontains=search))
    return invites


def pipeline_pending(*, assessment: str = "", stage: str = "", search: str = "", now: datetime | None = None) -> bool:
    """Whether an invite the dashboard's filters select may change by itself (it is open, being scored,
    or has an email waiting): the dashboard keeps itself up to date while one does. One query."""
    invites = pipeline_invites_filtered(assessment=assessment, stage=stage, search=search, now=now)
    return invites.filter(Q(status=Invite.Status.ACTIVE) | Q(scoring=True) | Q(emailing=True)).exists()


def pipeline_page(
    *,
    assessment: str = "",
    stage: str = "",
    search: str = "",
    sort: str = DEFAULT_SORT,
    page: int | str = 1,
    now: datetime | None = None,
) -> PipelinePage:
    """One page of the pipeline. ``page`` is clamped: not a number gives the first, past the end the last."""
    invites = pipeline_invites_filtered(assessment=assessment, stage=stage, search=search, now=now)
    _, ordering = SORTS.get(sort, SORTS[DEFAULT_SORT])
    # Only the analysis' ticket list is read: its full result (branches, findings) can be large.
    values = _row_values(invites.order_by(*ordering))
    current = Paginator(values, PIPELINE_PAGE_SIZE).get_page(page)
    page_values = list(current.object_list)
    labels = dict(Review.Recommendation.choices)
    found = invite_recommendations(v["pk"] for v in page_values)
    flags = similarity_flags(invite_ids=[v["pk"] for v in page_values])
    return PipelinePage(
        rows=[
            replace(
                _row(v),
                recommendations=tuple(labels.get(r, r) for r in found.get(v["pk"], ())),
                similarity=flags.get(v["pk"]),
            )
            for v in page_values
        ],
        number=current.number,
        num_pages=current.paginator.num_pages,
        count=current.paginator.count,
    )


def _row_values(invites: QuerySet[Invite]):
    """The columns a PipelineRow needs, as dicts."""
    # Only the analysis' ticket list is read: its full result (branches, findings) can be large.
    return invites.annotate(tickets=F("analysis__result__tickets")).values(
        "pk",
        "public_id",
        "candidate__name",
        "candidate__email",
        "assessment_version__assessment__title",
        "stage_rank",
        "created_at",
        "last_activity",
        "closes_at",
        "time_limit",
        "tickets",
        "pushed",
        "scoring",
        "emailing",
        "status",
    )


def _row(v: dict) -> PipelineRow:
    earned, possible = tickets_score(v["tickets"])
    return PipelineRow(
        public_id=v["public_id"],
        candidate_name=v["candidate__name"],
        candidate_email=v["candidate__email"],
        assessment_title=v["assessment_version__assessment__title"],
        stage=STAGES[v["stage_rank"]],
        created_at=v["created_at"],
        last_activity=v["last_activity"],
        closes_at=v["closes_at"],
        time_limit=v["time_limit"],
        earned=earned,
        possible=possible,
        contested=tickets_contested(v["tickets"]),
        pushed=v["pushed"],
        scoring=v["scoring"],
        emailing=v["emailing"],
        open=v["status"] == Invite.Status.ACTIVE,
    )


# One invite, the pictures and the export: the same SQL stage as the dashboard, so the numbers agree.

SCORE_BUCKETS = 10


def pipeline_row(*, public_id: str, now: datetime | None = None) -> PipelineRow | None:
    """One invite as the dashboard shows it (stage, score, closing time), or None; one query."""
    v = _row_values(pipeline_invites(now=now).filter(public_id=public_id)).first()
    return _row(v) if v is not None else None


# The funnel runs through the pipeline; expired and revoked invites left it and are counted apart.
FUNNEL_STAGES = STAGES[: STAGES.index("reviewed") + 1]


def pipeline_funnel(counts: dict[str, int]) -> list[tuple[str, int]]:
    """How many invites reached at least each pipeline stage, from the dashboard's per-stage counts."""
    reached, total = [], 0
    for stage in reversed(FUNNEL_STAGES):
        total += counts.get(stage, 0)
        reached.append((stage, total))
    return list(reversed(reached))


@dataclass(frozen=True)
class ScoreBuckets:
    counts: list[int]  # invites by percent of points earned, in SCORE_BUCKETS buckets
    without_score: int  # scored or reviewed invites with no points to place (reviewed with nothing scored)

    @property
    def reached(self) -> int:
        """Every invite the funnel counts as scored: those in a bucket and those without a score."""
        return sum(self.counts) + self.without_score


def pipeline_score_buckets(*, assessment: str = "", now: datetime | None = None) -> ScoreBuckets:
    """The invites the funnel counts as scored (scored and reviewed), by percent of points earned in
    SCORE_BUCKETS buckets (0-9 %, 10-19 %, ..., 90-100 %), and how many have no score; one query."""
    invites = pipeline_invites(now=now).filter(stage_rank__in=[STAGES.index("scored"), STAGES.index("reviewed")])
    if assessment:
        invites = invites.filter(assessment_version__assessment__slug=assessment)
    buckets, without_score = [0] * SCORE_BUCKETS, 0
    for tickets in invites.annotate(tickets=F("analysis__result__tickets")).values_list("tickets", flat=True):
        earned, possible = tickets_score(tickets)
        if possible:
            percent = max(0.0, min(1.0, earned / possible))
            buckets[min(int(percent * SCORE_BUCKETS), SCORE_BUCKETS - 1)] += 1
        else:
            without_score += 1
    return ScoreBuckets(counts=buckets, without_score=without_score)


def pipeline_export(
    *, assessment: str = "", stage: str = "", search: str = "", sort: str = DEFAULT_SORT, now: datetime | None = None
) -> QuerySet:
    """Every invite the dashboard's filters select, in its order, as dicts for a CSV; one query.

    ``tickets`` is the stored analysis' ticket list (number, points, earned, passed), so the
    per-ticket columns cost no query per row.
    """
    invites = pipeline_invites_filtered(assessment=assessment, stage=stage, search=search, now=now)
    _, ordering = SORTS.get(sort, SORTS[DEFAULT_SORT])
    return (
        invites.annotate(tickets=F("analysis__result__tickets"))
        .order_by(*ordering)
        .values(
            "public_id",
            "candidate__name",
            "candidate__email",
            "assessment_version__assessment__title",
            "assessment_version__label",
            "assessment_version__content_hash",
            "stage_rank",
            "created_at",
            "started_at",
            "submitted_at",
            "closes_at",
            "tickets",
        )
    )


def pipeline_export_tickets(*, assessment: str = "") -> list[int]:
    """The ticket numbers of every version of the assessment (or of all), for the CSV's columns; one query."""
    assessments = Assessment.objects.filter(slug=assessment) if assessment else Assessment.objects.all()
    numbers = set()
    for manifest in assessments.values_list("versions__manifest", flat=True):
        for ticket in (manifest or {}).get("tickets", []) if isinstance(manifest, dict) else []:
            if isinstance(ticket, dict) and isinstance(ticket.get("number"), int):
                numbers.add(ticket["number"])
    return sorted(numbers)


def ticket_verdicts(tickets) -> dict[int, str]:
    """The stored analysis' ticket list as {number: "pass", "fail", "contested", "overturned" or ""}
    (scoring.selectors.ticket_state); anything malformed is left out."""
    if not isinstance(tickets, list):
        return {}
    return {t["number"]: ticket_state(t) for t in tickets if isinstance(t, dict) and isinstance(t.get("number"), int)}
