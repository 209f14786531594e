"""The candidate's report for reviewers: score, matrix, why tickets fail, commits, diffs, pull
requests, the push timeline and the similar submissions, all read from what the worker stored; and
its runs and rescoring.

Only reviewers allowed on the invite's assessment reach it, and on a blind assessment every page is
scrubbed of the candidate's identity on its way out (portal.reviews.blind).
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from portal.accounts.decorators import role_required
from portal.accounts.roles import REVIEWER
from portal.integrity.selectors import MATCHES_SHOWN, Similarity, invite_similarity
from portal.invites.models import Invite
from portal.reviews.blind import alias, blind_response, is_blind, shown_name
from portal.reviews.selectors import Aggregate, diff_comments, review_aggregate, reviewer_allowed
from portal.scoring.selectors import (
    TimelinePush,
    failing_guards,
    failing_hidden_tests,
    invite_evidence,
    invite_pending,
    invite_pull_summaries,
    invite_result,
    invite_result_at,
    invite_run_statuses,
    push_timeline,
    runs_pending,
)
from portal.scoring.services import Retry, invite_rescore
from portal.scoring.timeline_svg import Mark, timeline_svg
from portal.scoring.version import GRADER_VERSION


def _invite(request, public_id: str) -> Invite:
    """The invite, if this reviewer may review its assessment (404 when unknown, 403 when not theirs)."""
    invite = get_object_or_404(
        Invite.objects.select_related("candidate", "assessment_version__assessment", "repository"), public_id=public_id
    )
    if not reviewer_allowed(user=request.user, assessment=invite.assessment_version.assessment):
        raise PermissionDenied("This assessment names its reviewers, and you are not one of them.")
    return invite


@require_GET
@role_required(REVIEWER)
def invite_result_page(request, public_id: str):
    invite = _invite(request, public_id)
    context = report_context(request, invite)
    context["similarity"] = similarity = report_similarity(request, invite)
    response = render(request, "scoring/invite_result.html", context)
    # The other candidates of the matches are hidden on a blind page like the page's own candidate,
    # should their identity be in the code beside theirs.
    return blind_response(response, [invite, *similarity.others])


def report_similarity(request, invite: Invite, *, limit: int = MATCHES_SHOWN) -> Similarity:
    """The similar submissions of ``invite`` as the signed-in reviewer may see them, for every page
    that shows them (the report, the printable report, the review page). The page that shows them
    passes ``similarity.others`` to blind_response with its own invite."""
    return invite_similarity(invite=invite, viewer=_Viewer(request.user, invite), limit=limit)


class _Viewer:
    """A reviewer reading ``invite``'s report, as the similarity section sees them: another
    candidate is named, with a link to their report, only if the reviewer may review their
    assessment (asked once per assessment); by alias on a blind assessment or when they may not."""

    def __init__(self, user, invite: Invite):
        self.user = user
        self.blind = is_blind(invite)
        self.allowed: dict[int, bool] = {}

    def name(self, other: Invite) -> str:
        return shown_name(other) if not self.blind and self.may_open(other) else alias(other)

    def may_open(self, other: Invite) -> bool:
        assessment = other.assessment_version.assessment
        if assessment.pk not in self.allowed:
            self.allowed[assessment.pk] = reviewer_allowed(user=self.user, assessment=assessment)
        return self.allowed[assessment.pk]


@require_GET
@role_required(REVIEWER)
def invite_result_live(request, public_id: str):
    """The parts of the report that change while runs are scored (score, tickets, findings, runs, why
    tickets fail, timeline, commits); the report and the review page poll it (htmx) while anything is
    pending, and its last answer, with nothing pending, stops the polling."""
    invite = _invite(request, public_id)
    context = report_context(request, invite, changes=False)
    context["shown_analysis"] = request.GET.get("shown", "")
    response = render(request, "scoring/_report_live.html", context)
    return blind_response(response, [invite])


@require_GET
@role_required(REVIEWER)
def invite_report_print(request, public_id: str):
    """The report on one page made for paper or PDF, with the submitted reviews the viewer may see
    and the similar submissions."""
    invite = _invite(request, public_id)
    context = report_context(request, invite)
    context["printed_reviews"] = _printed_reviews(review_aggregate(invite=invite, for_user=request.user))
    context["similarity"] = similarity = report_similarity(request, invite)
    response = render(request, "reviews/report_print.html", context)
    return blind_response(response, [invite, *similarity.others])


def _printed_reviews(aggregate: Aggregate) -> list[dict] | None:
    """Each submitted review with its level per criterion; None while the viewer may not see them."""
    if aggregate.hidden:
        return None
    titles = [(c.key, c.title) for c in aggregate.criteria]
    return [
        {
            "review": review,
            "levels": [(title, review.scores[key]) for key, title in titles if key in review.scores],
        }
        for review in aggregate.reviews
    ]


def report_context(request, invite: Invite, *, changes: bool = True) -> dict:
    """Everything the report shows, read from stored rows; ``?at=<push id>`` adds the matrix as of that
    push. Without ``changes``, the diffs are left out (they are the costly part, and do not poll)."""
    at = request.GET.get("at")
    result_at = None
    if at is not None:
        result_at = invite_result_at(invite=invite, push_id=int(at)) if at.isdigit() else None
        if result_at is None:
            raise Http404("No such push of this invite.")
    timeline = push_timeline(invite=invite)
    evidence = invite_evidence(invite=invite)
    result = invite_result(invite=invite)
    statuses = invite_run_statuses(invite=invite, internal=True, tickets=True)
    return {
        "invite": invite,
        "result": result,
        "grader_version": GRADER_VERSION,
        "failures": failing_hidden_tests(invite=invite),
        "guards": failing_guards(invite=invite),
        "tickets_branched": any(ticket.branch for ticket in result.tickets),
        "evidence": evidence,
        # The diffs with the reviewers' comments under their lines (_evidence_changes.html).
        "comments": diff_comments(invite=invite, evidence=evidence) if changes else None,
        "pulls": invite_pull_summaries(invite=invite),
        "statuses": statuses,
        "pending": result.pending or runs_pending(statuses),
        "timeline": timeline,
        "timeline_svg": _timeline_picture(timeline),
        "result_at": result_at,
        "at": int(at) if result_at else None,
        # What the page was rendered with, so a later poll can tell whether the diffs are out of date.
        "analysis_stamp": result.analysed_at.isoformat() if result.analysed_at else "none",
    }


def _timeline_picture(timeline: list[TimelinePush]):
    marks = [
        Mark(
            at=push.at,
            branch=ref.branch,
            passed=ref.tickets_passed,
            total=ref.tickets_total,
            label=f"{push.at:%Y-%m-%d %H:%M:%S} {ref.branch} {ref.kind} {ref.new[:7]}"
            + (f": {ref.summary}" if ref.summary else ""),
            href=f"?at={push.id}#timeline",
        )
        for push in timeline
        for ref in push.refs
    ]
    # timeline_svg escapes every piece of text it is given.
    return mark_safe(timeline_svg(marks=marks, title="Pushes over time, one row per branch"))  # noqa: S308


@require_GET
@role_required(REVIEWER)
def invite_runs_fragment(request, public_id: str):
    """The runs of an invite and their state; the page polls it (htmx) while any is pending."""
    invite = _invite(request, public_id)
    statuses = invite_run_statuses(invite=invite, internal=True, tickets=True)
    # Polled while anything the result depends on may change: the integrated run, the analysis too.
    pending = invite_pending(invite=invite)
    response = render(request, "scoring/_runs.html", {"invite": invite, "statuses": statuses, "pending": pending})
    return blind_response(response, [invite])


@require_POST
@role_required(REVIEWER)
def invite_rescore_view(request, public_id: str):
    if not request.user.is_staff:
        raise PermissionDenied("Rescoring is for administrators.")
    invite = _invite(request, public_id)
    retry = request.POST.get("retry", Retry.NONE)
    if retry not in Retry.CHOICES:
        messages.error(request, f"Unknown rescore choice {retry[:40]!r}; nothing was queued.")
    else:
        messages.success(request, str(invite_rescore(invite=invite, retry=retry)))
    return redirect("invite_result", public_id=invite.public_id)
