"""The recruiter following invites: one invite's page and its actions, the pictures, the CSV export.

Every action is a POST from the invite's page (CSRF-checked like any form), goes through one
service and leaves an event on the timeline. An action that does not apply to the invite as it
stands, or a form that does not parse, is refused with a message and changes nothing. Results are
shown read-only here: rescoring belongs to administrators on the reviewer's page.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from portal.accounts.decorators import role_required
from portal.accounts.roles import RECRUITER
from portal.core.spreadsheets import csv_lines, csv_when
from portal.integrity.selectors import similarity_flags
from portal.invites.emails import EmailRefused, email_retry, invitation_queue
from portal.invites.models import Event, Invite
from portal.invites.services import (
    InviteActionError,
    invite_extend,
    invite_link_renew,
    invite_reopen,
    invite_revoke,
)
from portal.pipeline.selectors import (
    DEFAULT_SORT,
    SCORE_BUCKETS,
    SORTS,
    STAGES,
    pipeline_assessments,
    pipeline_export,
    pipeline_export_tickets,
    pipeline_funnel,
    pipeline_row,
    pipeline_score_buckets,
    pipeline_stage_counts,
    ticket_verdicts,
)
from portal.reviews.selectors import reviewer_allowed
from portal.scoring.models import Run
from portal.scoring.selectors import invite_result, ref_label, run_summaries, tickets_contested, tickets_score
from portal.web.charts import bar_chart_svg, column_chart_svg
from portal.web.dashboard import LIVE_EVERY, SEARCH_MAX_LENGTH, live_fragment
from portal.web.views import duration_words, time_left_words

# A branch list longer than this in one push is summed up ("and 12 more").
PUSHED_REFS_SHOWN = 5
DATETIME_INPUTS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
MAX_EXTRA_HOURS = 24 * 365


def _invite(public_id: str) -> Invite:
    return get_object_or_404(
        Invite.objects.select_related("candidate", "assessment_version__assessment"), public_id=public_id
    )


# The timeline: each event as a plain sentence. Event data is written by the portal, but parts of it
# come from candidates (branch names, addresses), so it is read defensively and escaped by the template.


def _user(data: dict) -> str:
    by = data.get("by")
    return f" by {by}" if by else ""


def _moment(value) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return "none"
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _limit(seconds) -> str:
    if not isinstance(seconds, int | float):
        return "none"
    return duration_words(timedelta(seconds=seconds))


def _changes(data: dict) -> str:
    """ "deadline extended from … to …, time limit extended from … to …" for what changed."""
    parts = []
    if data.get("old_deadline") != data.get("new_deadline"):
        parts.append(f"deadline from {_moment(data.get('old_deadline'))} to {_moment(data.get('new_deadline'))}")
    if data.get("old_time_limit") != data.get("new_time_limit"):
        parts.append(f"time limit from {_limit(data.get('old_time_limit'))} to {_limit(data.get('new_time_limit'))}")
    return " and ".join(parts)


def _pushed(data: dict) -> str:
    refs = [r for r in data.get("refs", []) if isinstance(r, dict)]
    shown = []
    for ref in refs[:PUSHED_REFS_SHOWN]:
        name = str(ref.get("ref", "")).removeprefix("refs/heads/")
        new = str(ref.get("new", ""))
        shown.append(f"deleted {name}" if set(new) == {"0"} else f"{name} ({new[:7]})")
    more = f" and {len(refs) - PUSHED_REFS_SHOWN} more" if len(refs) > PUSHED_REFS_SHOWN else ""
    return f"Pushed {', '.join(shown)}{more}" if shown else "Pushed"


_EMAIL_KINDS = {
    "invitation": "Invitation",
    "reminder": "Reminder",
    "submitted_notice": "Submission notice",
    "feedback": "Feedback",
}


def _email(data: dict, default: str) -> str:
    return _EMAIL_KINDS.get(data.get("kind"), default)


# What the sentence of an event depends on beyond the event itself, from the events before it.
@dataclass(frozen=True)
class _Before:
    link_out: bool = False  # a link was handed out already (mailed, shown to a recruiter, or used)
    pushed: bool = False  # the candidate pushed something


# The candidate holds a link once they used one.
_USED_LINK = {Event.Kind.OPENED, Event.Kind.STARTED, Event.Kind.CLONED, Event.Kind.FETCHED, Event.Kind.PUSHED}
_OLD_LINK_ENDED = "the old link and git password stopped working"


def _mailed_link(event: Event) -> bool:
    """An email that carried a new link (invitations and feedback do)."""
    return event.kind == Event.Kind.EMAILED and isinstance(event.data, dict) and bool(event.data.get("new_link"))


def timeline(events: list[Event]) -> list[tuple[Event, str]]:
    """``_timeline`` with each scored run said per ticket (run_summary), its ref as pages name it."""
    run_ids = [
        e.data["run"]
        for e in events
        if e.kind == Event.Kind.SCORED and isinstance(e.data, dict) and isinstance(e.data.get("run"), int)
    ]
    labels = run_summaries(runs=Run.objects.filter(pk__in=run_ids)) if run_ids else {}
    return _timeline(events, labels)


def _timeline(events: list[Event], labels: dict) -> list[tuple[Event, str]]:
    """The invite's events in words, in order, each saying what happened as it stood then.

    A new link that went out in an email is told with that email ("Invitation sent to …"), not
    as a link a recruiter made: the very first invitation is "sent", and only a link that
    replaced one already handed out says that the old one stopped working. The portal keeps no
    record of a link shown on the page that created the invite, so an invitation mailed later for
    such an invite reads as the first unless the candidate had used their link.
    """
    entries, before = [], _Before()
    for i, event in enumerate(events):
        data = event.data if isinstance(event.data, dict) else {}
        following = events[i + 1] if i + 1 < len(events) else None
        emailed_link = data.get("emailed") or (following is not None and _mailed_link(following))
        shown_link = event.kind == Event.Kind.LINK_RENEWED and not emailed_link
        if event.kind != Event.Kind.LINK_RENEWED or shown_link:
            label = labels.get(data.get("run")) if event.kind == Event.Kind.SCORED else None
            entries.append((event, event_sentence(event.kind, data, before=before, run_label=label)))
        before = _Before(
            link_out=before.link_out or event.kind in _USED_LINK or shown_link or _mailed_link(event),
            pushed=before.pushed or event.kind == Event.Kind.PUSHED,
        )
    return entries


def event_sentence(kind: str, data, *, before: _Before | None = None, run_label=None) -> str:
    """One timeline entry in words; a kind this page does not know is named by its label.

    ``before`` is what the earlier events established (see ``timeline``); without it a new link is
    taken to replace one handed out, and an automatic submission to carry pushed work. ``run_label``
    is a scored event's run in words (portal.scoring.selectors.run_summary); without it the run's
    status is shown."""
    data = data if isinstance(data, dict) else {}
    before = before or _Before(link_out=True, pushed=True)
    to = f" to {data['to']}" if data.get("to") else ""
    address = f" from {data['address']}" if data.get("address") else ""
    match kind:
        case Event.Kind.INVITED:
            return f"Invited{_user(data)}"
        case Event.Kind.EMAILED:
            what = _email(data, "Invitation")
            if not data.get("new_link") or not before.link_out:
                return f"{what} sent{to}"
            again = " again" if data.get("kind", "invitation") == "invitation" else ""
            return f"{what} sent{again}{to} with a new link; {_OLD_LINK_ENDED}"
        case Event.Kind.EMAIL_FAILED:
            error = f": {data['error']}" if data.get("error") else ""
            return f"{_email(data, 'Email')}{to} could not be sent{error}"
        case Event.Kind.REMINDED:
            return f"Reminder sent{to}"
        case Event.Kind.LINK_RENEWED:
            # Made on the invite's page: whatever link was out before (mailed, shown, used) has ended.
            return f"New link made{_user(data)}; {_OLD_LINK_ENDED}"
        case Event.Kind.OPENED:
            return "Opened the invitation page"
        case Event.Kind.STARTED:
            return "Started the clock"
        case Event.Kind.CLONED:
            return f"Cloned{address}"
        case Event.Kind.FETCHED:
            return f"Fetched{address}"
        case Event.Kind.PUSHED:
            return _pushed(data)
        case Event.Kind.PUSH_REFUSED:
            reason = f": {data['reason']}" if data.get("reason") else ""
            return f"Push refused{reason}"
        case Event.Kind.SCORED:
            # The portal's own refs (the integrated commit) are named as what they are, never by ref.
            ref = ref_label(str(data.get("ref", ""))) if data.get("ref") else ""
            commit = f" ({str(data['commit'])[:7]})" if data.get("commit") else ""
            said = str(run_label) if run_label is not None else data.get("status")
            said = f": {said}" if said else ""
            return f"Scored {ref}{commit}{said}" if ref else f"Scored{said}"
        case Event.Kind.SUBMITTED:
            if not data.get("automatic"):
                return "Submitted"
            if before.pushed:
                return "Time ran out: the work pushed by then was submitted automatically"
            return "Time ran out with nothing pushed: closed automatically"
        case Event.Kind.REVIEWED:
            return f"Reviewed{_user(data)}"
        case Event.Kind.EXTENDED:
            what, _, change = _changes(data).partition(" from ")
            return f"{what.capitalize()} extended from {change}{_user(data)}" if change else f"Extended{_user(data)}"
        case Event.Kind.REVOKED:
            return f"Revoked{_user(data)}"
        case Event.Kind.REOPENED:
            changes = _changes(data)
            was = f" (was {data['was']})" if data.get("was") else ""
            return f"Reopened{_user(data)}{was}" + (f"; {changes} now" if changes else "")
        case Event.Kind.VERSION_CHANGED:
            return f"Moved from version {data.get('from')} to {data.get('to')}{_user(data)}; its work is scored again"
    labels = dict(Event.Kind.choices)
    return labels.get(kind, str(kind).replace("_", " ").capitalize())


# The invite's page.


class ExtendForm(forms.Form):
    deadline = forms.DateTimeField(required=False, input_formats=DATETIME_INPUTS, label="New deadline")
    extra_hours = forms.DecimalField(
        required=False, max_digits=8, decimal_places=2, max_value=Decimal(MAX_EXTRA_HOURS), label="Extra hours"
    )


class ReopenForm(forms.Form):
    deadline = forms.DateTimeField(required=False, input_formats=DATETIME_INPUTS, label="New deadline")


def _emails(invite: Invite) -> list:
    return list(invite.emails.order_by("created_at", "pk"))


def _detail_context(invite: Invite, *, user, **extra) -> dict:
    now = timezone.now()
    events = list(invite.events.order_by("at", "pk"))
    closes_at = invite.closes_at
    active = invite.status == Invite.Status.ACTIVE
    # The stage, score and whether anything is pending: the dashboard's row of this invite, so the two agree;
    # with the dashboard's similarity flag (its closest match at or above the assessment's similarity_flag).
    row = pipeline_row(public_id=invite.public_id, now=now)
    if row is not None:
        row = replace(row, similarity=similarity_flags(invite_ids=[invite.pk]).get(invite.pk))
    return {
        "invite": invite,
        "row": row,
        # The flag links to the report's section for those who may open the report.
        "can_review": reviewer_allowed(user=user, assessment=invite.assessment_version.assessment),
        "live_url": reverse("recruiter_invite_detail", args=[invite.public_id]),
        "live_every": LIVE_EVERY,
        "opened_at": next((e.at for e in events if e.kind == Event.Kind.OPENED), None),
        "closes_at": closes_at,
        "time_left": time_left_words(closes_at, now) if active and closes_at and closes_at > now else "",
        "time_limit": duration_words(invite.time_limit) if invite.time_limit else "",
        "timeline": timeline(events),
        "emails": _emails(invite),
        "result": invite_result(invite=invite),
        "can_extend": active,
        "can_reopen": not active,
        "can_revoke": invite.status != Invite.Status.REVOKED,
        # An invitation goes only to an invite still open (invitation_queue refuses the others).
        "can_email": active,
        "can_new_link": invite.status != Invite.Status.REVOKED,
        "time_zone": timezone.get_current_timezone_name(),
        "now": now,
        **extra,
    }


@require_GET
@role_required(RECRUITER)
def recruiter_invite_detail(request, public_id: str):
    """The invite's page; while something of it is pending (it is open, being scored, or an email
    waits), its stage, times, result, emails and timeline poll this address and are replaced in place."""
    context = _detail_context(_invite(public_id), user=request.user)
    template = "recruiter/_invite_live.html" if live_fragment(request) else "recruiter/invite_detail.html"
    response = render(request, template, context | {"oob": live_fragment(request)})
    patch_vary_headers(response, ["HX-Request"])
    return response


def _back(invite: Invite):
    return redirect("recruiter_invite_detail", public_id=invite.public_id)


def _confirmed(request) -> bool:
    return request.POST.get("confirm") == "yes"


def _confirm(request, invite: Invite, *, action: str, heading: str, warning: str, button: str):
    """The confirm step: the same POST again with confirm=yes, after the warning was read."""
    context = {"invite": invite, "action": action, "heading": heading, "warning": warning, "button": button}
    return render(request, "recruiter/invite_detail_confirm.html", context)


def _refused(request, invite: Invite, message: str):
    messages.error(request, f"{message} Nothing was changed.")
    return _back(invite)


def _form_errors(form: forms.Form) -> str:
    return " ".join(
        f"{form.fields[name].label if name in form.fields else 'Form'}: {' '.join(errors)}"
        for name, errors in form.errors.items()
    )


def _new_link(request, invite: Invite):
    if invite.status == Invite.Status.REVOKED:
        return _refused(request, invite, "This invite is revoked; reopen it before making a new link.")
    if not _confirmed(request):
        return _confirm(
            request,
            invite,
            action="new_link",
            heading="Make a new link?",
            warning="The current link and git password stop working at once. The candidate needs the new "
            "link to continue, and a clone they already have must use the new git password shown there.",
            button="Make a new link",
        )
    link_token, _git_token = invite_link_renew(invite=invite, by=request.user)
    link = settings.PORTAL_BASE_URL + reverse("invite_page", args=[link_token])
    messages.success(request, "New link made. Copy it now: it is shown only this once.")
    # Rendered in this response, never stored: the link exists in clear only here.
    response = render(
        request,
        "recruiter/invite_detail.html",
        _detail_context(_invite(invite.public_id), user=request.user, new_link=link),
    )
    add_never_cache_headers(response)
    return response


def _resend(request, invite: Invite):
    if invite.status == Invite.Status.REVOKED:
        return _refused(request, invite, "This invite is revoked; reopen it before sending the invitation again.")
    cloned = invite.started_at is not None or invite.events.filter(kind=Event.Kind.CLONED).exists()
    if cloned and not _confirmed(request):
        return _confirm(
            request,
            invite,
            action="resend",
            heading="Send the invitation again?",
            warning=f"{invite.candidate.name} has already cloned the repository. The new invitation carries a "
            "new link, and the git password changes with it: their clone must use the new password to push.",
            button="Send it again",
        )
    try:
        email = invitation_queue(invite=invite, by=request.user, resend=True)
    except EmailRefused as exc:
        return _refused(request, invite, str(exc))
    messages.success(request, f"The invitation is on its way to {email.to}.")
    return _back(invite)


def _retry_email(request, invite: Invite):
    email_id = request.POST.get("email", "")
    email = invite.emails.filter(pk=int(email_id)).first() if email_id.isdigit() else None
    if email is None:
        return _refused(request, invite, "There is no such email for this invite.")
    try:
        email = email_retry(email=email, by=request.user)
    except EmailRefused as exc:
        return _refused(request, invite, str(exc))
    messages.success(request, f"Sending the email to {email.to} again.")
    return _back(invite)


def _revoke(request, invite: Invite):
    if invite.status == Invite.Status.REVOKED:
        return _refused(request, invite, "This invite is already revoked.")
    if not _confirmed(request):
        return _confirm(
            request,
            invite,
            action="revoke",
            heading="Revoke this invite?",
            warning=f"{invite.candidate.name}'s link and git access stop working at once, and nothing more can be "
            "pushed. Their work so far is kept. You can reopen the invite later.",
            button="Revoke",
        )
    invite_revoke(invite=invite, by=request.user)
    messages.success(request, "The invite is revoked: its link and git access no longer work.")
    return _back(invite)


def _extend(request, invite: Invite):
    form = ExtendForm(request.POST)
    if not form.is_valid():
        return _refused(request, invite, _form_errors(form))
    hours = form.cleaned_data["extra_hours"]
    try:
        invite_extend(
            invite=invite,
            deadline=form.cleaned_data["deadline"],
            extra_time=timedelta(hours=float(hours)) if hours is not None else None,
            by=request.user,
        )
    except InviteActionError as exc:
        return _refused(request, invite, str(exc))
    messages.success(request, "The invite has more time.")
    return _back(invite)


def _reopen(request, invite: Invite):
    form = ReopenForm(request.POST)
    if not form.is_valid():
        return _refused(request, invite, _form_errors(form))
    try:
        invite_reopen(invite=invite, deadline=form.cleaned_data["deadline"], by=request.user)
    except InviteActionError as exc:
        return _refused(request, invite, str(exc))
    messages.success(request, "The invite is active again: the candidate can open the link and push.")
    return _back(invite)


ACTIONS = {
    "new_link": _new_link,
    "resend": _resend,
    "retry_email": _retry_email,
    "revoke": _revoke,
    "extend": _extend,
    "reopen": _reopen,
}


@require_POST
@role_required(RECRUITER)
def recruiter_invite_action(request, public_id: str):
    invite = _invite(public_id)
    action = request.POST.get("action", "")
    handler = ACTIONS.get(action)
    if handler is None:
        return _refused(request, invite, "That action is unknown.")
    return handler(request, invite)


# The pictures.


def _bucket_label(i: int) -> str:
    width = 100 // SCORE_BUCKETS
    return f"{i * width}-{100 if i == SCORE_BUCKETS - 1 else (i + 1) * width - 1}%"


@require_GET
@role_required(RECRUITER)
def recruiter_insights(request):
    """The funnel and the score distribution of one assessment (the first by title unless chosen)."""
    now = timezone.now()
    assessments = pipeline_assessments()
    titles = dict(assessments)
    slug = request.GET.get("assessment", "")
    if slug not in titles:
        slug = assessments[0][0] if assessments else ""
    context = {"assessments": assessments, "slug": slug, "title": titles.get(slug, "")}
    if slug:
        counts = pipeline_stage_counts(assessment=slug, now=now)
        funnel = [(stage.capitalize(), n) for stage, n in pipeline_funnel(counts)]
        scores = pipeline_score_buckets(assessment=slug, now=now)
        buckets = [(_bucket_label(i), n) for i, n in enumerate(scores.counts)]
        title = context["title"]
        # charts.py escapes every piece of text it draws, so its output is safe to insert as is.
        context |= {
            "funnel": funnel,
            "left": [("Expired", counts["expired"]), ("Revoked", counts["revoked"])],
            "buckets": buckets,
            # The funnel's "Scored" row: the same invites, from the same stage.
            "scored": counts["scored"] + counts["reviewed"],
            "drawn": sum(scores.counts),
            "without_score": scores.without_score,
            "funnel_svg": mark_safe(  # noqa: S308
                bar_chart_svg(
                    chart_id="funnel",
                    title=f"{title}: how far candidates got",
                    desc="Invites that reached at least each stage: "
                    + ", ".join(f"{stage} {n}" for stage, n in funnel)
                    + f". Expired {counts['expired']}, revoked {counts['revoked']}, counted apart.",
                    bars=funnel,
                )
            ),
            "scores_svg": mark_safe(  # noqa: S308
                column_chart_svg(
                    chart_id="scores",
                    title=f"{title}: scores",
                    desc="Scored invites by percent of points earned: "
                    + ", ".join(f"{label} {n}" for label, n in buckets)
                    + ".",
                    columns=buckets,
                )
            ),
        }
    return render(request, "recruiter/insights.html", context)


# The CSV export.


def _filters(request) -> dict:
    """The dashboard's filters, read the way it reads them: unknown values are dropped."""
    assessment = request.GET.get("assessment", "")
    if assessment and assessment not in {slug for slug, _ in pipeline_assessments()}:
        assessment = ""
    stage = request.GET.get("stage", "")
    sort = request.GET.get("sort", DEFAULT_SORT)
    return {
        "assessment": assessment,
        "stage": stage if stage in STAGES else "",
        "search": request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH],
        "sort": sort if sort in SORTS else DEFAULT_SORT,
    }


def _csv_rows(rows: Iterable[dict], tickets: list[int]) -> Iterator[str]:
    header = [
        "candidate",
        "email",
        "assessment",
        "version",
        "stage",
        "invited at",
        "started at",
        "submitted at",
        "closes at",
        "points earned",
        "points possible",
        "percent",
        "points contested",
        *(f"ticket {n}" for n in tickets),
    ]
    return csv_lines(header, (_csv_cells(v, tickets) for v in rows))


def _csv_cells(v: dict, tickets: list[int]) -> list:
    verdicts = ticket_verdicts(v["tickets"])
    earned, possible = tickets_score(v["tickets"])
    return [
        v["candidate__name"],
        v["candidate__email"],
        v["assessment_version__assessment__title"],
        f"{v['assessment_version__label']} ({v['assessment_version__content_hash'][:12]})",
        STAGES[v["stage_rank"]],
        csv_when(v["created_at"]),
        csv_when(v["started_at"]),
        csv_when(v["submitted_at"]),
        csv_when(v["closes_at"]),
        "" if earned is None else earned,
        "" if possible is None else possible,
        f"{100 * earned / possible:.1f}" if possible else "",
        tickets_contested(v["tickets"]) if possible else "",
        *(verdicts.get(n, "") for n in tickets),
    ]


@require_GET
@role_required(RECRUITER)
def recruiter_export(request):
    """Every invite the dashboard's filters select, streamed as CSV; a flat number of queries."""
    now = timezone.now()
    filters = _filters(request)
    tickets = pipeline_export_tickets(assessment=filters["assessment"])
    rows = pipeline_export(**filters, now=now).iterator(chunk_size=500)
    response = StreamingHttpResponse(_csv_rows(rows, tickets), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="candidates-{timezone.localdate(now):%Y-%m-%d}.csv"'
    return response
