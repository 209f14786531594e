from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from portal.accounts.decorators import role_required
from portal.accounts.roles import REVIEWER
from portal.invites.models import Invite
from portal.scoring.selectors import invite_result, invite_run_statuses, runs_pending
from portal.scoring.services import Retry, invite_rescore
from portal.scoring.version import GRADER_VERSION


def _invite(public_id: str) -> Invite:
    return get_object_or_404(
        Invite.objects.select_related("candidate", "assessment_version__assessment", "repository"), public_id=public_id
    )


@require_GET
@role_required(REVIEWER)
def invite_result_page(request, public_id: str):
    invite = _invite(public_id)
    result = invite_result(invite=invite)
    return render(
        request,
        "scoring/invite_result.html",
        {"invite": invite, "result": result, "grader_version": GRADER_VERSION},
    )


@require_GET
@role_required(REVIEWER)
def invite_runs_fragment(request, public_id: str):
    """The runs of an invite and their state; the page polls it (htmx) while any is pending."""
    invite = _invite(public_id)
    statuses = invite_run_statuses(invite=invite)
    pending = runs_pending(statuses)
    return render(request, "scoring/_runs.html", {"invite": invite, "statuses": statuses, "pending": pending})


@require_POST
@role_required(REVIEWER)
def invite_rescore_view(request, public_id: str):
    if not request.user.is_staff:
        raise PermissionDenied("Rescoring is for administrators.")
    invite = _invite(public_id)
    retry = request.POST.get("retry", Retry.NONE)
    if retry not in Retry.CHOICES:
        messages.error(request, f"Unknown rescore choice {retry[:40]!r}; nothing was queued.")
    else:
        messages.success(request, str(invite_rescore(invite=invite, retry=retry)))
    return redirect("invite_result", public_id=invite.public_id)
