"""Reads for the pages of portal.web that span several apps: the recruiter's pipeline.

The stage of an invite is computed in SQL (one Case over Exists subqueries) so that the
dashboard filters, sorts, counts and paginates in the database: a page costs the same number
of queries at 3 invites as at 10,000.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.core.paginator import Paginator
from django.db.models import (
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
from portal.invites.models import Event, Invite
from portal.reviews.models import Review
from portal.reviews.selectors import invite_recommendations
from portal.scoring.models import Run

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
    earned: int | None
    possible: int | None
    # The recommendations of submitted reviews, labelled ("Strong yes"); filled for the dashboard's page.
    recommendations: tuple[str, ...] = ()

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
    """Every invite annotated with ``stage_rank`` (an index into STAGES), ``closes_at`` and ``last_activity``."""
    now = now or timezone.now()
    runs_pending = Exists(Run.objects.filter(invite=OuterRef("pk"), status__in=Run.ACTIVE))
    last_activity = Event.objects.filter(invite=OuterRef("pk")).order_by().values("invite").annotate(m=Max("at"))
    submitted = Q(status=Invite.Status.SUBMITTED)
    return Invite.objects.annotate(closes_at=_closes_at()).annotate(
        last_activity=Subquery(last_activity.values("m"), output_field=DateTimeField()),
        stage_rank=Case(
            When(status=Invite.Status.REVOKED, then=_rank("revoked")),
            When(_event(Event.Kind.REVIEWED), then=_rank("reviewed")),
            When(submitted & ~runs_pending, then=_rank("scored")),
            When(submitted, then=_rank("submitted")),
            When(closes_at__lte=now, then=_rank("expired")),
            When(Exists(Push.objects.filter(invite=OuterRef("pk"))), then=_rank("pushed")),
            When(Q(started_at__isnull=False) | _event(Event.Kind.CLONED), then=_rank("cloned")),
            When(_event(Event.Kind.OPENED), then=_rank("opened")),
            default=_rank("invited"),
            output_field=IntegerField(),
        ),
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


def _score(tickets) -> tuple[int | None, int | None]:
    if not isinstance(tickets, list) or not tickets:
        return None, None
    return sum(t.get("earned", 0) for t in tickets), sum(t.get("points", 0) for t in tickets)


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
    invites = pipeline_invites(now=now)
    if assessment:
        invites = invites.filter(assessment_version__assessment__slug=assessment)
    if stage in STAGES:
        invites = invites.filter(stage_rank=STAGES.index(stage))
    if search:
        invites = invites.filter(Q(candidate__name__icontains=search) | Q(candidate__email__icontains=search))
    _, ordering = SORTS.get(sort, SORTS[DEFAULT_SORT])
    # Only the analysis' ticket list is read: its full result (branches, findings) can be large.
    values = _row_values(invites.order_by(*ordering))
    current = Paginator(values, PIPELINE_PAGE_SIZE).get_page(page)
    page_values = list(current.object_list)
    labels = dict(Review.Recommendation.choices)
    found = invite_recommendations(v["pk"] for v in page_values)
    return PipelinePage(
        rows=[
            replace(_row(v), recommendations=tuple(labels.get(r, r) for r in found.get(v["pk"], ())))
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
    )


def _row(v: dict) -> PipelineRow:
    earned, possible = _score(v["tickets"])
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


def pipeline_score_buckets(*, assessment: str = "", now: datetime | None = None) -> list[int]:
    """Scored and reviewed invites by percent of points earned, in SCORE_BUCKETS buckets
    (0-9 %, 10-19 %, ..., 90-100 %); one query."""
    invites = pipeline_invites(now=now).filter(stage_rank__in=[STAGES.index("scored"), STAGES.index("reviewed")])
    if assessment:
        invites = invites.filter(assessment_version__assessment__slug=assessment)
    buckets = [0] * SCORE_BUCKETS
    for tickets in invites.annotate(tickets=F("analysis__result__tickets")).values_list("tickets", flat=True):
        earned, possible = _score(tickets)
        if possible:
            percent = max(0.0, min(1.0, earned / possible))
            buckets[min(int(percent * SCORE_BUCKETS), SCORE_BUCKETS - 1)] += 1
    return buckets


def pipeline_export(
    *, assessment: str = "", stage: str = "", search: str = "", sort: str = DEFAULT_SORT, now: datetime | None = None
) -> QuerySet:
    """Every invite the dashboard's filters select, in its order, as dicts for a CSV; one query.

    ``tickets`` is the stored analysis' ticket list (number, points, earned, passed), so the
    per-ticket columns cost no query per row.
    """
    invites = pipeline_invites(now=now)
    if assessment:
        invites = invites.filter(assessment_version__assessment__slug=assessment)
    if stage in STAGES:
        invites = invites.filter(stage_rank=STAGES.index(stage))
    if search:
        invites = invites.filter(Q(candidate__name__icontains=search) | Q(candidate__email__icontains=search))
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


def ticket_verdicts(tickets) -> dict[int, bool | None]:
    """The stored analysis' ticket list as {number: passed}; anything malformed is left out."""
    if not isinstance(tickets, list):
        return {}
    return {t["number"]: t.get("passed") for t in tickets if isinstance(t, dict) and isinstance(t.get("number"), int)}
