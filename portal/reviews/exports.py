"""Submitted reviews as a spreadsheet, for recruiters and staff: one row per review.

The file is streamed, so a large export never sits in memory, and it holds to the same rules as
the pages: on a blind assessment the candidate is named by their alias and every text cell is
scrubbed of their identity (portal.reviews.blind), and no cell can start a spreadsheet formula,
since names, summaries and assessment titles are typed by people the reader does not control.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from portal.assessments.models import Assessment
from portal.core.spreadsheets import csv_lines, csv_when
from portal.invites.models import Invite
from portal.reviews.blind import Identity, alias, invite_identities, scrub
from portal.reviews.models import Review, Rubric
from portal.reviews.selectors import sees_all_reviews
from portal.scoring.selectors import tickets_contested, tickets_score


def reviews_for_export(*, assessment: Assessment | None = None) -> QuerySet[Review]:
    """Submitted reviews, oldest submission first, with everything a row shows in the same query."""
    reviews = Review.objects.filter(status=Review.Status.SUBMITTED)
    if assessment is not None:
        reviews = reviews.filter(invite__assessment_version__assessment=assessment)
    return (
        reviews.select_related("invite__candidate", "invite__assessment_version__assessment", "reviewer", "rubric")
        # Only the analysis' ticket list, for the score columns: its full result can be large.
        .annotate(score_tickets=F("invite__analysis__result__tickets"))
        .order_by("submitted_at", "id")
    )


def export_criteria(reviews: QuerySet[Review]) -> list[str]:
    """The criterion keys of the rubrics these reviews used, in rubric order, oldest rubric first; one query."""
    keys: dict[str, None] = {}
    rubrics = Rubric.objects.filter(pk__in=reviews.values("rubric")).order_by("assessment_id", "version")
    for rubric in rubrics:
        keys.update(dict.fromkeys(rubric.keys))
    return list(keys)


def blind_identities(reviews: QuerySet[Review]) -> dict[int, Identity]:
    """Invite id -> what to hide, for the blind invites among these reviews; two queries at most."""
    blind = list(
        Invite.objects.filter(
            pk__in=reviews.values("invite"), assessment_version__assessment__blind_review=True
        ).select_related("candidate", "assessment_version__assessment")
    )
    # Every invite passed is blind, so invite_identities returns one identity per invite, in order.
    return {invite.pk: identity for invite, identity in zip(blind, invite_identities(blind), strict=True)}


def review_rows(reviews: Iterable[Review], keys: list[str], hidden: dict[int, Identity]) -> Iterator[str]:
    """The CSV lines: a header (with a byte order mark, so spreadsheets read UTF-8) then one line per review."""
    header = [
        "invite",
        "candidate",
        "assessment",
        "reviewer",
        "submitted at",
        "points earned",
        "points possible",
        "points contested",
        *keys,
        "recommendation",
        "summary",
    ]
    return csv_lines(header, (_review_cells(review, keys, hidden.get(review.invite_id)) for review in reviews))


def _review_cells(review: Review, keys: list[str], identity: Identity | None) -> list:
    invite = review.invite
    # Scored like every page: contested points waiting for a reviewer are not earned.
    earned, possible = tickets_score(review.score_tickets)
    cells = [
        invite.public_id,
        alias(invite) if identity else invite.candidate.name,
        invite.assessment_version.assessment.title,
        review.reviewer.get_username(),
        csv_when(review.submitted_at),
        "" if earned is None else earned,
        "" if possible is None else possible,
        tickets_contested(review.score_tickets) if possible else "",
        *(review.scores.get(key, "") for key in keys),
        review.recommendation,
        review.summary,
    ]
    if identity:
        # Cells are plain text, not HTML: a short name is hidden wherever it stands as a token.
        cells = [scrub(cell, [identity], html=False) if isinstance(cell, str) else cell for cell in cells]
    return cells


def _assessment(request) -> Assessment | None:
    chosen = request.GET.get("assessment", "")
    if not chosen:
        return None
    if not (chosen.isascii() and chosen.isdigit() and len(chosen) < 12):
        raise Http404("No such assessment.")
    assessment = Assessment.objects.filter(pk=int(chosen)).first()
    if assessment is None:
        raise Http404("No such assessment.")
    return assessment


@require_GET
@login_required
def reviews_export(request):
    """Every submitted review (of one assessment with ``?assessment=<id>``), streamed as CSV."""
    if not sees_all_reviews(request.user):
        raise PermissionDenied("The reviews export is for recruiters and administrators.")
    assessment = _assessment(request)
    reviews = reviews_for_export(assessment=assessment)
    keys = export_criteria(reviews)
    hidden = blind_identities(reviews)
    rows = review_rows(reviews.iterator(chunk_size=500), keys, hidden)
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="reviews-{timezone.localdate():%Y-%m-%d}.csv"'
    return response
