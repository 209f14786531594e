"""Results, runs, findings, pull requests, reviews and the event feed: thin over the selectors and
services the pages use, so the API and the pages never disagree.

Who may read: recruiters, and reviewers allowed on the invite's assessment (403 otherwise, as on
the pages); the event feed is for recruiters. On a blind assessment a token without the recruiter
role gets every string that names the candidate replaced by the invite's alias, as the reviewer's
pages do (portal.reviews.blind): names in commits, notes and descriptions included.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.pagination import Cursor
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.accounts.roles import RECRUITER
from portal.api.authentication import IntegrationPrincipal
from portal.api.errors import Conflict, ErrorOutput, error_responses
from portal.api.pagination import EventCursor
from portal.api.permissions import IsPerson, IsRecruiter, IsRecruiterOrReviewer, IsReviewer, TokenScope
from portal.api.serializers_results import (
    EventOut,
    EventsQuery,
    FindingsOut,
    PullDetailOut,
    PullOut,
    ResultOut,
    ReviewIn,
    ReviewOut,
    ReviewsOut,
    RunDetailOut,
    RunOut,
)
from portal.hosting.models import PullRequest
from portal.hosting.pulls import invite_pulls, pull_commits, pull_diff, pull_head
from portal.invites.models import Event, Invite
from portal.reviews.blind import invite_identities, scrub, shown_name
from portal.reviews.models import AssessmentReviewer, Review
from portal.reviews.selectors import review_aggregate, review_of, reviewer_allowed, sees_all_reviews
from portal.reviews.services import ReviewRefused, review_save, rubric_current
from portal.scoring.models import Run, TestResult, TicketVerdict, visible_state
from portal.scoring.selectors import (
    INTEGRATED_LABEL,
    InviteResult,
    first_line,
    hidden_test_name,
    invite_result,
    run_summary,
)

INVITE = OpenApiParameter("public_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The invite's public id.")
SECRET_WORDS = ("token", "secret", "password", "hash", "key")


errors = error_responses


# --- Who may read what -------------------------------------------------------------


def _is_recruiter(user) -> bool:
    return user.has_perm(RECRUITER.permission)


def _may_read(user, assessment) -> bool:
    """Recruiters read every invite; reviewers those of assessments they may review."""
    if _is_recruiter(user):
        return True
    if isinstance(user, IntegrationPrincipal):
        # An integration is no person an assessment could name: only assessments open to every reviewer.
        return not AssessmentReviewer.objects.filter(assessment=assessment).exists()
    return reviewer_allowed(user=user, assessment=assessment)


def _readable(user, invite: Invite) -> Invite:
    if not _may_read(user, invite.assessment_version.assessment):
        raise exceptions.PermissionDenied("This assessment names its reviewers, and you are not one of them.")
    return invite


def _invite(request, public_id: str) -> Invite:
    invite = get_object_or_404(
        Invite.objects.select_related("candidate", "assessment_version__assessment", "repository"),
        public_id=public_id,
    )
    return _readable(request.user, invite)


def _blind(request, invite: Invite, data, extra=None):
    """``data`` with the candidate's identity replaced by the alias, for a reader who is no recruiter
    on a blind assessment; as it is otherwise."""
    if _is_recruiter(request.user):
        return data
    identities = invite_identities([invite], extra)
    if not identities:
        return data

    def walk(value):
        if isinstance(value, str):
            return scrub(value, identities, html=False)
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [walk(item) for item in value]
        return value

    return walk(data)


def _candidate(request, invite: Invite) -> str:
    return invite.candidate.name if _is_recruiter(request.user) else shown_name(invite)


def _state(result: InviteResult) -> str:
    if result.pending:
        return "being_scored"
    return "scored" if result.analysed else "not_scored"


# --- Result, runs, findings --------------------------------------------------------


class InviteResultView(APIView):
    permission_classes = [TokenScope, IsRecruiterOrReviewer]

    @extend_schema(
        summary="An invite's result: tickets fixed, on which branch, points, contested tickets",
        parameters=[INVITE],
        responses={200: ResultOut, **errors(404)},
        tags=["results"],
    )
    def get(self, request, public_id: str):
        invite = _invite(request, public_id)
        result = invite_result(invite=invite)
        data = {
            "invite": invite.public_id,
            "candidate": _candidate(request, invite),
            "assessment": invite.assessment_version.assessment.title,
            "state": _state(result),
            "total": result.total,
            "possible": result.possible,
            "contested_points": result.contested_points,
            "analysed_at": result.analysed_at,
            "tickets": result.tickets,
            "contested": [ticket.number for ticket in result.contested_tickets],
            "branches": [
                {
                    "branch": branch.branch,
                    "head": branch.head,
                    "run": branch.run.id if branch.run else None,
                    "run_status": branch.run.status if branch.run else None,
                    "tickets": [{"ticket": number, **vars(cell)} for number, cell in sorted(branch.cells.items())],
                }
                for branch in result.branches
            ],
        }
        return Response(_blind(request, invite, ResultOut(data).data))


def _run_row(run: Run) -> dict:
    verdicts = list(run.verdicts.all())
    ref = INTEGRATED_LABEL if run.ref.startswith("refs/portal/") else run.ref.removeprefix("refs/heads/")
    summary = run_summary(
        branch=ref, status=run.status, verdicts=[(v.ticket, v.passed, v.earned) for v in verdicts], reason=run.reason
    )
    return {
        "id": run.pk,
        "invite": run.invite.public_id,
        "commit": run.commit,
        "ref": ref,
        "status": run.status,
        "summary": summary.text,
        "reason": run.reason,
        "grader_version": run.grader_version,
        "queued_at": run.queued_at,
        "dispatched_at": run.dispatched_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "seconds": (run.timings or {}).get("total"),
        "verdicts": verdicts,
    }


def _runs():
    return Run.objects.select_related("invite__candidate", "invite__assessment_version__assessment").prefetch_related(
        Prefetch("verdicts", queryset=TicketVerdict.objects.order_by("ticket"))
    )


class InviteRunsView(generics.ListAPIView):
    permission_classes = [TokenScope, IsRecruiterOrReviewer]
    serializer_class = RunOut

    @extend_schema(
        summary="An invite's runs, newest first, with each ticket's verdict",
        parameters=[INVITE],
        responses={200: RunOut(many=True), **errors(404)},
        tags=["results"],
    )
    def get(self, request, public_id: str):
        invite = _invite(request, public_id)
        page = self.paginate_queryset(_runs().filter(invite=invite).order_by("-queued_at", "-id"))
        data = RunOut([_run_row(run) for run in page], many=True).data
        return self.get_paginated_response(_blind(request, invite, data))


class RunView(APIView):
    permission_classes = [TokenScope, IsRecruiterOrReviewer]

    @extend_schema(
        summary="One run: commit, ref, status, timings, verdicts and each hidden test's outcome",
        responses={200: RunDetailOut, **errors(404)},
        tags=["results"],
    )
    def get(self, request, run_id: int):
        run = get_object_or_404(_runs(), pk=run_id)
        invite = _readable(request.user, run.invite)
        tests = [
            {
                "name": hidden_test_name(result.test_id),
                "ticket": result.ticket,
                "outcome": result.outcome,
                "duration": result.duration,
                "message": first_line(result.message),
            }
            for result in TestResult.objects.filter(run=run).order_by("ticket", "test_id")
        ]
        visible = run.visible or {}
        data = {
            **_run_row(run),
            "tests": tests,
            "visible": {
                "state": visible_state(visible),
                "passed": visible.get("passed"),
                "total": visible.get("total"),
                "failed": list(visible.get("failed", ())),
                "reused_from": visible.get("reused_from"),
                "reason": visible.get("reason", ""),
            },
        }
        return Response(_blind(request, invite, RunDetailOut(data).data))


class InviteFindingsView(APIView):
    permission_classes = [TokenScope, IsRecruiterOrReviewer]

    @extend_schema(
        summary="Git-hygiene findings and code-quality signals of the invite's stored analysis",
        parameters=[INVITE],
        responses={200: FindingsOut, **errors(404)},
        tags=["results"],
    )
    def get(self, request, public_id: str):
        invite = _invite(request, public_id)
        result = invite_result(invite=invite)
        data = {
            "invite": invite.public_id,
            "state": _state(result),
            "analysed_at": result.analysed_at,
            "findings": result.hygiene_findings,
            "disagreements": result.disagreements,
            "quality": result.quality,
        }
        return Response(_blind(request, invite, FindingsOut(data).data))


# --- Pull requests --------------------------------------------------------------------


class InvitePullsView(generics.ListAPIView):
    permission_classes = [TokenScope, IsRecruiterOrReviewer]
    serializer_class = PullOut

    @extend_schema(
        summary="An invite's pull requests (their commits and diff: GET pulls/{id})",
        parameters=[INVITE],
        responses={200: PullOut(many=True), **errors(404)},
        tags=["results"],
    )
    def get(self, request, public_id: str):
        invite = _invite(request, public_id)
        page = self.paginate_queryset(invite_pulls(invite=invite).select_related("invite"))
        return self.get_paginated_response(_blind(request, invite, PullOut(page, many=True).data))


class PullView(APIView):
    permission_classes = [TokenScope, IsRecruiterOrReviewer]

    @extend_schema(
        summary="One pull request: its body as written, commits and the diff against main (capped)",
        responses={200: PullDetailOut, **errors(404)},
        tags=["results"],
    )
    def get(self, request, pull_id: int):
        pull = get_object_or_404(
            PullRequest.objects.select_related("invite__candidate", "invite__assessment_version__assessment"),
            pk=pull_id,
        )
        invite = _readable(request.user, pull.invite)
        head = pull_head(pull)
        commits = pull_commits(pull, head=head)
        data = PullDetailOut(
            {
                "id": pull.pk,
                "invite": invite,
                "number": pull.number,
                "branch": pull.branch,
                "title": pull.title,
                "description": pull.description,
                "closes": pull.closes,
                "head_sha": pull.head_sha,
                "created_at": pull.created_at,
                "updated_at": pull.updated_at,
                "head": head,
                "commits": commits.commits,
                "commits_capped": commits.capped,
                "diff": pull_diff(pull, head=head),
            }
        ).data
        # These commits are read now, not from the stored evidence: their authors are hidden too.
        people = {(c.author, c.author_email) for c in commits.commits}
        people |= {(c.committer, c.committer_email) for c in commits.commits}
        return Response(_blind(request, invite, data, extra={invite.pk: people}))


# --- Reviews -------------------------------------------------------------------------


class InviteReviewsView(APIView):
    """Reviews of an invite. A reviewer reads their own (draft or submitted) and, once theirs is
    submitted, the others' submitted ones; recruiters read every submitted review."""

    def get_permissions(self):
        if self.request.method == "POST":
            return [TokenScope(), IsReviewer(), IsPerson()]
        return [TokenScope(), IsRecruiterOrReviewer()]

    @extend_schema(
        summary="The reviews of an invite the token may read",
        parameters=[INVITE],
        responses={200: ReviewsOut, **errors(404)},
        tags=["reviews"],
    )
    def get(self, request, public_id: str):
        invite = _invite(request, public_id)
        user = request.user
        aggregate = review_aggregate(invite=invite, for_user=user)
        reviews = list(aggregate.reviews)
        own = review_of(invite=invite, reviewer=user) if not isinstance(user, IntegrationPrincipal) else None
        if own is not None and all(review.pk != own.pk for review in reviews):
            reviews.append(own)
        hidden = aggregate.hidden and not sees_all_reviews(user)
        data = ReviewsOut({"hidden": hidden, "reviews": reviews}).data
        return Response(_blind(request, invite, data))

    @extend_schema(
        summary="Save your review of a submitted invite as a draft, or submit it",
        parameters=[INVITE],
        request=ReviewIn,
        # A body that is not JSON is a 400 without fields: the error's shape, fields when there are some.
        responses={200: ReviewOut, **errors(404, 409), 400: OpenApiResponse(ErrorOutput, description="Not valid.")},
        tags=["reviews"],
    )
    def post(self, request, public_id: str):
        invite = get_object_or_404(
            Invite.objects.select_related("candidate", "assessment_version__assessment"), public_id=public_id
        )
        given = ReviewIn(data=request.data)
        given.is_valid(raise_exception=True)
        fields = given.validated_data
        review = review_of(invite=invite, reviewer=request.user)
        rubric = review.rubric if review else rubric_current(invite.assessment_version.assessment)
        unknown = {
            name: [f"There is no criterion {key[:40]!r} in this rubric (its criteria: {', '.join(rubric.keys)})."]
            for name in ("scores", "comments")
            for key in fields[name]
            if key not in rubric.keys
        }
        if unknown:
            raise exceptions.ValidationError(unknown)
        try:
            # An incomplete submission keeps its draft: the service saved it before it refused.
            review = review_save(
                invite=invite,
                reviewer=request.user,
                scores=fields["scores"],
                comments=fields["comments"],
                recommendation=fields.get("recommendation", ""),
                summary=fields.get("summary", ""),
                submit=fields["submit"],
            )
        except ReviewRefused as refused:
            raise Conflict(str(refused)) from refused
        review = Review.objects.select_related("invite", "reviewer", "rubric").get(pk=review.pk)
        return Response(_blind(request, invite, ReviewOut(review).data), status=status.HTTP_200_OK)


# --- Events -------------------------------------------------------------------------


class EventFeed(EventCursor):
    """The event cursor, with a ``next`` link on the last page too (after its last event, or where
    the request stood when there was none): a poller keeps it and asks again later for what came
    since. A cursor that cannot be read is a 400 about the ``cursor`` field."""

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({self.cursor_query_param: ["This cursor is not valid."]}) from None

    def get_next_link(self):
        if self.has_next or (self.cursor and self.cursor.reverse):
            return super().get_next_link()
        if self.page:
            position = self._get_position_from_instance(self.page[-1], self.ordering)
        else:
            position = self.cursor.position if self.cursor else None
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=position))


def _safe(data) -> dict:
    """An event's data without anything that could be a credential (none is recorded; kept so)."""
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if not any(word in key.lower() for word in SECRET_WORDS)}


class EventsView(generics.ListAPIView):
    permission_classes = [TokenScope, IsRecruiter]
    serializer_class = EventOut
    pagination_class = EventFeed

    def kinds(self) -> list[str]:
        asked = [part.strip() for value in self.request.query_params.getlist("kind") for part in value.split(",")]
        asked = [kind for kind in asked if kind]
        unknown = sorted({kind for kind in asked if kind not in Event.Kind.values})
        if unknown:
            raise exceptions.ValidationError(
                {
                    "kind": [
                        f"Unknown kind: {', '.join(k[:40] for k in unknown)}. One of: {', '.join(Event.Kind.values)}."
                    ]
                }
            )
        return asked

    def get_queryset(self):
        query = EventsQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        kinds = self.kinds()
        events = Event.objects.select_related("invite__candidate", "invite__assessment_version__assessment")
        if "since" in query.validated_data:
            events = events.filter(at__gte=query.validated_data["since"])
        if "until" in query.validated_data:
            events = events.filter(at__lt=query.validated_data["until"])
        if "invite" in query.validated_data:
            events = events.filter(invite__public_id=query.validated_data["invite"])
        if kinds:
            events = events.filter(kind__in=kinds)
        return events

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        data = EventOut(page, many=True).data
        for item, event in zip(data, page, strict=True):
            item["data"] = _safe(event.data)
        return self.get_paginated_response(data)

    @extend_schema(
        summary="The event feed: every event on every invite's timeline, in the order written",
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Events at or after this time (ISO 8601)."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Events before this time (ISO 8601)."),
            OpenApiParameter(
                "kind",
                OpenApiTypes.STR,
                many=True,
                explode=True,
                enum=Event.Kind.values,
                description="Only these kinds: repeat the parameter, or give a comma-separated list.",
            ),
            OpenApiParameter("invite", OpenApiTypes.STR, description="One invite's events (its public id)."),
        ],
        responses={200: EventOut(many=True), **errors(400)},
        tags=["events"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
