"""The recruiter's pipeline over the API: assessments, candidates, invites and the invite's actions.

Each view parses its input with a serializer (serializers_pipeline.py), calls the service the
pages call (portal.pipeline.invitations for inviting, portal.invites for the rest) and formats
the answer. A service's refusal (an invite already revoked, an invitation already on its way) is
a 409 with the service's own sentence. Stage and score come from portal.pipeline.selectors, the
dashboard's SQL, so the API and the pages never disagree.

The person acting is the personal token's user. An integration token acts for no person: the
services get ``by=None``, so no foreign key ever holds the stand-in user (IntegrationPrincipal).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import F, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from gitplumbing import GitError
from portal.accounts.models import ApiToken
from portal.api import serializers_pipeline as io
from portal.api.errors import Conflict, ErrorOutput, ValidationErrorOutput
from portal.api.permissions import IsRecruiter, IsRecruiterOrReviewer, TokenScope
from portal.assessments.models import Assessment
from portal.core.datadir import NoDataDirectory
from portal.invites.emails import EmailRefused, invitation_queue
from portal.invites.models import Candidate, Email, Invite
from portal.invites.services import InviteActionError, invite_extend, invite_reopen, invite_revoke
from portal.pipeline.invitations import (
    CSV_MAX_ROWS,
    TIME_LIMIT_MAX_HOURS,
    BatchCheck,
    InviteRequest,
    invitations_create,
    inviteable_assessments,
    parse_deadline,
)
from portal.pipeline.selectors import STAGES, pipeline_invites, pipeline_invites_filtered
from portal.scoring.selectors import tickets_contested, tickets_score

logger = logging.getLogger(__name__)

# What goes wrong while writing (disk, git, database), as opposed to what the client sent.
CREATE_ERRORS = (GitError, NoDataDirectory, OSError, DatabaseError)
DATABASE_INT_MAX = 2**63 - 1


def _error(description: str, serializer=ErrorOutput) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


ERRORS_READ = {
    401: _error("No token, or one that is not valid, was revoked or has expired."),
    403: _error("The token's roles do not allow this."),
    429: _error("Too many requests; Retry-After says when to try again."),
}
ERRORS_ONE = {**ERRORS_READ, 404: _error("No such object.")}
ERRORS_WRITE = {
    **ERRORS_ONE,
    400: _error("The body is not valid; `fields` says which and why.", ValidationErrorOutput),
    403: _error("The token is read-only, or its roles do not allow this."),
    409: _error("The invite as it stands refuses this; `detail` says why."),
}
ERRORS_CREATE = {**ERRORS_WRITE, 503: _error("The invites could not be written (disk, git, database); none were.")}
ERRORS_LIST = {
    **ERRORS_READ,
    400: ERRORS_WRITE[400],
    404: _error("No such page: past the last, or not a page number."),
}
PUBLIC_ID = OpenApiParameter("public_id", str, OpenApiParameter.PATH, description="The invite's public id.")


def _url(name: str, *args) -> str:
    return settings.PORTAL_BASE_URL + reverse(name, args=args)


def _by(request):
    """The person acting: a personal token's user; None for an integration token, which is nobody."""
    token: ApiToken = request.auth
    return request.user if token.kind == ApiToken.Kind.PERSONAL else None


def _invalid(fields: dict[str, list[str]]) -> exceptions.ValidationError:
    return exceptions.ValidationError({key: messages for key, messages in fields.items() if messages})


def _checked(serializer_class, data):
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise _invalid(_flat(serializer.errors))
    return serializer.validated_data


def _flat(errors, prefix: str = "") -> dict[str, list[str]]:
    """A serializer's nested errors keyed by path: ``invites[2].email``; a row's own errors at ``invites[2]``."""
    out: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            if isinstance(key, int):  # a list's errors come keyed by the row's index
                name = f"{prefix}[{key}]"
            elif key == "non_field_errors" and prefix:
                name = prefix
            else:
                name = f"{prefix}.{key}" if prefix else key
            for k, v in _flat(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(errors, list) and any(isinstance(item, dict | list) for item in errors):
        for index, item in enumerate(errors):
            for k, v in _flat(item, f"{prefix}[{index}]").items():
                out.setdefault(k, []).extend(v)
    elif isinstance(errors, list):
        out[prefix or "non_field_errors"] = [str(e) for e in errors]
    else:
        out[prefix or "non_field_errors"] = [str(errors)]
    return out


def _deadline(value: str | None, *, field: str = "deadline") -> datetime | None:
    if not value:
        return None
    try:
        moment = parse_deadline(value)
        moment.astimezone(UTC)  # stored in UTC: a moment past year 9999 there cannot be
    except (ValueError, OverflowError):
        raise _invalid({field: [f"“{value}” is not a date and time such as 2026-12-01T17:00:00Z."]}) from None
    if moment <= timezone.now():
        raise _invalid({field: [f"The deadline {value} is in the past."]})
    return moment


# Reading ----------------------------------------------------------------------------------------

INVITE_COLUMNS = (
    "pk",
    "public_id",
    "candidate_id",
    "candidate__name",
    "candidate__email",
    "assessment_version__assessment__slug",
    "assessment_version__assessment__title",
    "assessment_version__label",
    "status",
    "stage_rank",
    "deadline",
    "time_limit",
    "started_at",
    "closes_at",
    "submitted_at",
    "revoked_at",
    "created_at",
    "last_activity",
    "tickets",
    "scoring",
    "emailing",
)


def _invite_rows(invites: QuerySet | None = None) -> QuerySet:
    """Invites (every one by default) as the dashboard computes them (pipeline_invites), newest first,
    as dicts."""
    return (
        (pipeline_invites() if invites is None else invites)
        .annotate(tickets=F("analysis__result__tickets"))
        .order_by("-created_at", "-pk")
        .values(*INVITE_COLUMNS)
    )


def _invite_data(v: dict) -> dict:
    earned, possible = tickets_score(v["tickets"])
    score = None
    if possible is not None:
        score = {"earned": earned, "possible": possible, "contested": tickets_contested(v["tickets"])}
    limit = v["time_limit"]
    return {
        "id": v["public_id"],
        "candidate": {"id": v["candidate_id"], "name": v["candidate__name"], "email": v["candidate__email"]},
        "assessment": {
            "slug": v["assessment_version__assessment__slug"],
            "title": v["assessment_version__assessment__title"],
            "version": v["assessment_version__label"],
        },
        "status": v["status"],
        "stage": STAGES[v["stage_rank"]],
        "score": score,
        "scoring": v["scoring"],
        "emailing": v["emailing"],
        "deadline": v["deadline"],
        "time_limit_hours": limit.total_seconds() / 3600 if limit is not None else None,
        "started_at": v["started_at"],
        "closes_at": v["closes_at"],
        "submitted_at": v["submitted_at"],
        "revoked_at": v["revoked_at"],
        "created_at": v["created_at"],
        "last_activity": v["last_activity"],
        "report_url": _url("recruiter_invite_detail", v["public_id"]),
        "api_url": _url("api:invite", v["public_id"]),
    }


def _invite_answer(invite: Invite) -> dict:
    return io.InviteOutput(_invite_data(_invite_rows().get(pk=invite.pk))).data


def _invite(public_id: str) -> Invite:
    if "\x00" in public_id:  # PostgreSQL refuses NUL in a query's text: no invite has one
        raise exceptions.NotFound()
    return get_object_or_404(Invite.objects.select_related("candidate"), public_id=public_id)


def _assessment_data(assessment: Assessment) -> dict:
    version = assessment.latest_version
    tickets = [
        {"number": t["number"], "title": t["title"], "points": t["points"]}
        for t in version.manifest.get("tickets", [])
        if isinstance(t, dict)
    ]
    return {
        "slug": assessment.slug,
        "title": assessment.title,
        "version": {"label": version.label, "content_hash": version.content_hash, "created_at": version.created_at},
        "tickets": tickets,
        "points": sum(t["points"] for t in tickets),
        "time_limit_max_hours": TIME_LIMIT_MAX_HOURS,
        "deadline_required": False,
        "api_url": _url("api:assessment", assessment.slug),
    }


@extend_schema(
    summary="The assessments candidates can be invited to",
    description="Each with its latest version (what a new invite gets) and its tickets. Recruiter or Reviewer.",
    responses={200: io.AssessmentOutput(many=True), **ERRORS_READ},
)
class AssessmentList(APIView):
    permission_classes = [TokenScope, IsRecruiterOrReviewer]

    def get(self, request):
        data = [_assessment_data(a) for a in inviteable_assessments()]
        return Response(io.AssessmentOutput(data, many=True).data)


@extend_schema(
    summary="One assessment",
    parameters=[OpenApiParameter("slug", str, OpenApiParameter.PATH)],
    responses={200: io.AssessmentOutput, **ERRORS_ONE},
)
class AssessmentDetail(APIView):
    permission_classes = [TokenScope, IsRecruiterOrReviewer]

    def get(self, request, slug: str):
        assessment = get_object_or_404(Assessment.objects.filter(versions__isnull=False).distinct(), slug=slug)
        return Response(io.AssessmentOutput(_assessment_data(assessment)).data)


@extend_schema(
    summary="Candidates and their invites",
    parameters=[io.CandidateFilters],
    responses={200: io.CandidateOutput(many=True), **ERRORS_LIST},
)
class CandidateList(generics.ListAPIView):
    permission_classes = [TokenScope, IsRecruiter]
    serializer_class = io.CandidateOutput

    def get_queryset(self):
        return Candidate.objects.order_by("-created_at", "-pk")

    def list(self, request, *args, **kwargs):
        search = _checked(io.CandidateFilters, request.query_params).get("search", "")
        candidates = self.get_queryset()
        if search:
            candidates = candidates.filter(Q(name__icontains=search) | Q(email__icontains=search))
        page = self.paginate_queryset(candidates)
        return self.get_paginated_response(io.CandidateOutput(_candidates_data(page), many=True).data)


def _candidates_data(candidates: list[Candidate]) -> list[dict]:
    """The candidates with their invites and stages: two queries, whatever the number."""
    invites: dict[int, list[dict]] = {c.pk: [] for c in candidates}
    rows = _invite_rows().filter(candidate_id__in=invites).order_by("created_at", "pk")
    for v in rows:
        invites[v["candidate_id"]].append(
            {
                "id": v["public_id"],
                "assessment": v["assessment_version__assessment__slug"],
                "status": v["status"],
                "stage": STAGES[v["stage_rank"]],
                "created_at": v["created_at"],
                "api_url": _url("api:invite", v["public_id"]),
            }
        )
    return [
        {
            "id": c.pk,
            "name": c.name,
            "email": c.email,
            "created_at": c.created_at,
            "invites": invites[c.pk],
            "api_url": _url("api:candidate", c.pk),
        }
        for c in candidates
    ]


@extend_schema(summary="One candidate and their invites", responses={200: io.CandidateOutput, **ERRORS_ONE})
class CandidateDetail(APIView):
    permission_classes = [TokenScope, IsRecruiter]

    def get(self, request, pk: int):
        if pk > DATABASE_INT_MAX:  # past what the database can compare with: no such candidate
            raise exceptions.NotFound()
        candidate = get_object_or_404(Candidate, pk=pk)
        return Response(io.CandidateOutput(_candidates_data([candidate])[0]).data)


# Inviting ---------------------------------------------------------------------------------------


def _hours_text(hours: float | None) -> str:
    return "" if hours is None else repr(hours)


def _requests(rows: list[dict]) -> list[InviteRequest]:
    """The rows as the form's and the CSV's InviteRequests; ``line`` is the row's index in the list."""
    return [
        InviteRequest(
            line=index,
            name=row["name"],
            email=row["email"],
            assessment=row["assessment"],
            deadline=row.get("deadline") or "",
            time_limit_hours=_hours_text(row.get("time_limit_hours")),
        )
        for index, row in enumerate(rows)
    ]


def _check_errors(check: BatchCheck, *, batch: bool) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    if check.errors:
        fields["invites" if batch else "non_field_errors"] = list(check.errors)
    for row in check.rows:
        for error in row.errors:
            row_key = f"invites[{row.request.line}]" if batch else ""
            name = error.field if error.field != "line" else ""
            key = ".".join(part for part in (row_key, name) if part) or "non_field_errors"
            fields.setdefault(key, []).append(error.message)
    return fields


INVITE_CREATE_REQUEST = PolymorphicProxySerializer(
    component_name="InviteCreateRequest",
    serializers=[io.InviteInput, io.InviteBatchInput],
    resource_type_field_name=None,
)
INVITE_CREATE_RESPONSE = PolymorphicProxySerializer(
    component_name="InviteCreateResponse",
    serializers=[io.InviteCreatedOutput, io.InvitesCreatedOutput],
    resource_type_field_name=None,
)


class InviteList(generics.ListAPIView):
    permission_classes = [TokenScope, IsRecruiter]
    serializer_class = io.InviteOutput

    def get_queryset(self):
        return _invite_rows()

    @extend_schema(
        summary="Invites, as the recruiter's dashboard shows them",
        description="Newest first; filter by assessment, stage or a search in names and emails.",
        parameters=[io.InviteFilters],
        responses={200: io.InviteOutput(many=True), **ERRORS_LIST},
    )
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        filters = _checked(io.InviteFilters, request.query_params)
        invites = _invite_rows(
            pipeline_invites_filtered(
                assessment=filters.get("assessment", ""),
                stage=filters.get("stage", ""),
                search=filters.get("search", ""),
            )
        )
        page = self.paginate_queryset(invites)
        return self.get_paginated_response(io.InviteOutput([_invite_data(v) for v in page], many=True).data)

    @extend_schema(
        summary="Invite one candidate, or many at once",
        description=(
            "One: `{name, email, assessment, deadline?, time_limit_hours?, send_email?}`. Many: "
            f"`{{invites: [...], send_email?}}`, at most {CSV_MAX_ROWS}, all invited or none. The same rules "
            "as the invite form and the CSV import. Each new invite carries its candidate link, "
            "`invite_url`, in this answer only, when `send_email` is false."
        ),
        request=INVITE_CREATE_REQUEST,
        responses={201: INVITE_CREATE_RESPONSE, **ERRORS_CREATE},
    )
    def post(self, request, *args, **kwargs):
        if not isinstance(request.data, dict):
            raise _invalid({"non_field_errors": ['Send a JSON object: one invite, or {"invites": [...]}.']})
        batch = "invites" in request.data
        data = _checked(io.InviteBatchInput if batch else io.InviteInput, request.data)
        rows = data["invites"] if batch else [data]
        send_email = data["send_email"]
        try:
            result = invitations_create(
                requests=_requests(rows), created_by=_by(request), max_rows=CSV_MAX_ROWS, send_email=send_email
            )
        except CREATE_ERRORS as exc:
            logger.exception("Invites by API token %s not created", request.auth.pk)
            raise exceptions.ServiceUnavailable(f"The invites could not be created, so none were: {exc}") from exc
        if not result.check.ok:
            raise _invalid(_check_errors(result.check, batch=batch))
        by_pk = {v["pk"]: v for v in _invite_rows().filter(pk__in=[item.invite.pk for item in result.created])}
        created = [
            {
                **_invite_data(by_pk[item.invite.pk]),
                "invite_url": None if send_email else _url("invite_page", item.link_token),
            }
            for item in result.created
        ]
        body = {"invites": created} if batch else created[0]
        answer = io.InvitesCreatedOutput(body) if batch else io.InviteCreatedOutput(body)
        # The links exist in clear only in this answer: nothing on the way may keep it.
        return Response(answer.data, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


@extend_schema(summary="One invite", parameters=[PUBLIC_ID], responses={200: io.InviteOutput, **ERRORS_ONE})
class InviteDetail(APIView):
    permission_classes = [TokenScope, IsRecruiter]

    def get(self, request, public_id: str):
        return Response(_invite_answer(_invite(public_id)))


# The invite's actions ---------------------------------------------------------------------------


def _email_answer(email: Email, invite: Invite) -> dict:
    data = {
        "email": {
            "id": email.pk,
            "kind": email.kind,
            "to": email.to,
            "status": email.status,
            "queued_at": email.queued_at,
        },
        "invite": _invite_data(_invite_rows().get(pk=invite.pk)),
    }
    return io.EmailQueuedOutput(data).data


class _Action(APIView):
    permission_classes = [TokenScope, IsRecruiter]


@extend_schema(
    summary="Email the invitation",
    description="Queues the invitation with a new link. 409 when one was already sent or is on its way "
    "(resend instead), or the invite is revoked or submitted.",
    parameters=[PUBLIC_ID],
    request=None,
    responses={202: io.EmailQueuedOutput, **ERRORS_WRITE},
)
class InviteSend(_Action):
    resend = False

    def post(self, request, public_id: str):
        invite = _invite(public_id)
        try:
            email = invitation_queue(invite=invite, by=_by(request), resend=self.resend)
        except EmailRefused as exc:
            raise Conflict(str(exc)) from None
        return Response(_email_answer(email, invite), status=status.HTTP_202_ACCEPTED)


@extend_schema(
    summary="Email the invitation again",
    description="Queues a new invitation: its new link replaces the current one (and the git password "
    "derived from it) once it is sent. 409 when the invite is revoked or submitted, or an invitation "
    "is already on its way.",
    parameters=[PUBLIC_ID],
    request=None,
    responses={202: io.EmailQueuedOutput, **ERRORS_WRITE},
)
class InviteResend(InviteSend):
    resend = True


@extend_schema(
    summary="Revoke the invite",
    description="The link and git access stop working at once; the work so far is kept. 409 if already revoked.",
    parameters=[PUBLIC_ID],
    request=None,
    responses={200: io.InviteOutput, **ERRORS_WRITE},
)
class InviteRevoke(_Action):
    def post(self, request, public_id: str):
        invite = _invite(public_id)
        if invite.status == Invite.Status.REVOKED:
            raise Conflict("This invite is already revoked.")
        invite_revoke(invite=invite, by=_by(request))
        return Response(_invite_answer(invite))


@extend_schema(
    summary="Give the invite more time",
    description="A later deadline, hours added to the time limit, or both. Only ever more time: 409 "
    "otherwise, or when the invite is revoked or submitted (reopen it instead).",
    parameters=[PUBLIC_ID],
    request=io.ExtendInput,
    responses={200: io.InviteOutput, **ERRORS_WRITE},
)
class InviteExtend(_Action):
    def post(self, request, public_id: str):
        invite = _invite(public_id)
        data = _checked(io.ExtendInput, request.data)
        hours = data.get("hours")
        try:
            invite_extend(
                invite=invite,
                deadline=_deadline(data.get("deadline")),
                extra_time=timedelta(hours=hours) if hours is not None else None,
                by=_by(request),
            )
        except InviteActionError as exc:
            raise Conflict(str(exc)) from None
        return Response(_invite_answer(invite))


@extend_schema(
    summary="Reopen a submitted or revoked invite",
    description="The candidate can open the link and push again. A new deadline is needed when the "
    "invite's time is over. 409 when the invite is active.",
    parameters=[PUBLIC_ID],
    request=io.ReopenInput,
    responses={200: io.InviteOutput, **ERRORS_WRITE},
)
class InviteReopen(_Action):
    def post(self, request, public_id: str):
        invite = _invite(public_id)
        data = _checked(io.ReopenInput, request.data)
        try:
            invite_reopen(invite=invite, deadline=_deadline(data.get("deadline")), by=_by(request))
        except InviteActionError as exc:
            raise Conflict(str(exc)) from None
        return Response(_invite_answer(invite))
