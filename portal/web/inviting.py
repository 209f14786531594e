"""The recruiter's invite form and CSV import: parse the input, check it, create, show the result.

Both pages hand their rows to portal.pipeline.invitations, so the rules are the same; neither loses
what the recruiter typed or uploaded when a row is wrong. A CSV goes through a preview first;
what the recruiter confirms travels back signed (django.core.signing) and is checked again,
since anything may have changed in between.

Invite links exist in clear only in the response that created them: when the invitations are
not emailed, the links page is that response (never cached), not a page to come back to.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.db import DatabaseError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from gitplumbing import GitError
from portal.accounts.decorators import role_required
from portal.accounts.roles import RECRUITER
from portal.core.datadir import NoDataDirectory
from portal.pipeline.invitations import (
    CSV_MAX_BYTES,
    CSV_MAX_ROWS,
    CSV_OPTIONAL_COLUMNS,
    FORM_MAX_ROWS,
    TIME_LIMIT_MAX_HOURS,
    BatchCheck,
    CsvError,
    InvitationsResult,
    InviteRequest,
    invitations_create,
    invite_requests_check,
    inviteable_assessments,
    requests_from_csv,
    requests_from_text,
)

logger = logging.getLogger(__name__)

IMPORT_SALT = "portal.web.inviting.import"
IMPORT_MAX_AGE = 60 * 60  # seconds a preview may be confirmed for
DEFAULT_DEADLINE_DAYS = 7

# Errors about these inputs are the same for every line of the form: shown once, at the input.
SHARED_FIELDS = ("assessment", "deadline", "time_limit_hours")
# What goes wrong while writing (disk, git, database), as opposed to what the recruiter wrote.
CREATE_ERRORS = (GitError, NoDataDirectory, OSError, DatabaseError)


def _limits() -> dict:
    return {
        "form_max_rows": FORM_MAX_ROWS,
        "csv_max_rows": CSV_MAX_ROWS,
        "csv_max_mb": CSV_MAX_BYTES // (1024 * 1024),
        "time_limit_max_hours": TIME_LIMIT_MAX_HOURS,
        "time_zone": timezone.get_current_timezone_name(),
    }


def _default_values() -> dict:
    """A deadline a week from now at 17:00 server time, and the assessment if there is only one."""
    assessments = inviteable_assessments()
    deadline = timezone.localtime() + timedelta(days=DEFAULT_DEADLINE_DAYS)
    return {
        "assessment": assessments[0].slug if len(assessments) == 1 else "",
        "deadline": deadline.replace(hour=17, minute=0).strftime("%Y-%m-%dT%H:%M"),
        "time_limit_hours": "",
    }


def _posted(request, *names: str) -> dict:
    return {name: request.POST.get(name, "") for name in names}


def _send_email(request) -> bool:
    """The "Email the invitations" box: ticked unless a posted form left it unticked."""
    return request.method != "POST" or request.POST.get("send_email") == "on"


def _created(request, result: InvitationsResult, *, send_email: bool):
    count = len(result.created)
    plural = "" if count == 1 else "s"
    if send_email:
        messages.success(request, f"Invited {count} candidate{plural}; their invitations are on the way.")
        return redirect("recruiter_dashboard")
    links = [
        {
            "invite": item.invite,
            "candidate": item.invite.candidate,
            "link": settings.PORTAL_BASE_URL + reverse("invite_page", args=[item.link_token]),
        }
        for item in result.created
    ]
    response = render(request, "recruiter/invite_links.html", {"links": links, "count": count})
    add_never_cache_headers(response)
    return response


def _create(request, requests: list[InviteRequest], *, max_rows: int) -> tuple[InvitationsResult | None, str]:
    """invitations_create, with a failure to write turned into a sentence for the page."""
    try:
        result = invitations_create(
            requests=requests, created_by=request.user, max_rows=max_rows, send_email=_send_email(request)
        )
    except CREATE_ERRORS as exc:
        logger.exception("Invites by %s not created", request.user.get_username())
        return None, f"The invites could not be created, so none were: {exc}"
    return result, ""


# The form -----------------------------------------------------------------------------------


def _form_errors(check: BatchCheck) -> tuple[dict[str, list[str]], list[dict]]:
    """Errors by shared input (each message once) and, per line, the rest."""
    fields: dict[str, list[str]] = {name: [] for name in SHARED_FIELDS}
    lines = []
    for row in check.rows:
        own = []
        for error in row.errors:
            if error.field in fields:
                if error.message not in fields[error.field]:
                    fields[error.field].append(error.message)
            else:
                own.append(error.message)
        if own:
            lines.append({"line": row.request.line, "request": row.request, "messages": own})
    return fields, lines


def _invite_form(request, *, values: dict, check: BatchCheck | None = None, failure: str = "", status: int = 200):
    field_errors, line_errors = _form_errors(check) if check else ({}, [])
    context = {
        "assessments": inviteable_assessments(),
        "values": values,
        "send_email": _send_email(request),
        "batch_errors": (check.errors if check else []) + ([failure] if failure else []),
        "field_errors": field_errors,
        "line_errors": line_errors,
        **_limits(),
    }
    return render(request, "recruiter/invite_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required(RECRUITER)
def recruiter_invite(request):
    if request.method == "GET":
        return _invite_form(request, values={**_default_values(), "candidates": ""})
    values = _posted(request, "assessment", "deadline", "time_limit_hours", "candidates")
    requests = requests_from_text(
        values["candidates"],
        assessment=values["assessment"],
        deadline=values["deadline"],
        time_limit_hours=values["time_limit_hours"],
    )
    result, failure = _create(request, requests, max_rows=FORM_MAX_ROWS)
    if result is None:
        return _invite_form(request, values=values, failure=failure, status=500)
    if not result.check.ok:
        return _invite_form(request, values=values, check=result.check, status=400)
    return _created(request, result, send_email=_send_email(request))


# The CSV import -----------------------------------------------------------------------------


def _import_form(request, *, values: dict, error: str = "", status: int = 200):
    context = {
        "assessments": inviteable_assessments(),
        "values": values,
        "error": error,
        "optional_columns": CSV_OPTIONAL_COLUMNS,
        **_limits(),
    }
    return render(request, "recruiter/import_form.html", context, status=status)


def _preview(
    request, *, check: BatchCheck, send_email: bool, payload: str = "", notice: str = "", ignored=(), status: int = 200
):
    context = {
        "check": check,
        "payload": payload,
        "notice": notice,
        "ignored_columns": list(ignored),
        "send_email": send_email,
        "ready": sum(1 for row in check.rows if row.ok),
        **_limits(),
    }
    return render(request, "recruiter/import_preview.html", context, status=status)


def _import_upload(request):
    values = _posted(request, "assessment", "deadline", "time_limit_hours")
    upload = request.FILES.get("file")
    if upload is None:
        return _import_form(request, values=values, error="Choose a CSV file to upload.", status=400)
    if upload.size > CSV_MAX_BYTES:
        error = f"The file is larger than {CSV_MAX_BYTES // (1024 * 1024)} MB; split it into smaller files."
        return _import_form(request, values=values, error=error, status=400)
    try:
        read = requests_from_csv(upload.read(), **values)
    except CsvError as exc:
        return _import_form(request, values=values, error=str(exc), status=400)
    check = invite_requests_check(read.requests, max_rows=CSV_MAX_ROWS)
    payload = ""
    if check.ok:
        rows = [request_.as_list() for request_ in read.requests]
        payload = signing.dumps({"by": request.user.pk, "rows": rows}, salt=IMPORT_SALT, compress=True)
    # The upload form has no email box: the preview's, where the import is confirmed, starts ticked.
    return _preview(request, check=check, send_email=True, payload=payload, ignored=read.ignored_columns)


def _import_confirm(request):
    try:
        data = signing.loads(request.POST["payload"], salt=IMPORT_SALT, max_age=IMPORT_MAX_AGE)
    except signing.SignatureExpired:
        error = "This preview is more than an hour old. Upload the file again to check it once more."
        return _import_form(request, values=_default_values(), error=error, status=400)
    except signing.BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("by") != request.user.pk:
        error = "The confirmation was altered or damaged, so nothing was imported. Upload the file again."
        return _import_form(request, values=_default_values(), error=error, status=400)
    requests = [InviteRequest.from_list(values) for values in data["rows"]]
    result, failure = _create(request, requests, max_rows=CSV_MAX_ROWS)
    if result is None:
        check = invite_requests_check(requests, max_rows=CSV_MAX_ROWS)
        return _preview(request, check=check, send_email=_send_email(request), notice=failure, status=500)
    if not result.check.ok:
        notice = "Something changed since the preview, so nothing was imported. Correct the file and upload it again."
        return _preview(request, check=result.check, send_email=_send_email(request), notice=notice, status=400)
    return _created(request, result, send_email=_send_email(request))


@require_http_methods(["GET", "POST"])
@role_required(RECRUITER)
def recruiter_import(request):
    if request.method == "GET":
        return _import_form(request, values=_default_values())
    if "payload" in request.POST:
        return _import_confirm(request)
    return _import_upload(request)
