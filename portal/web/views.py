"""The pages people use, over every app: start page, dashboards, the candidate's page, system status.

An entry point above the domain apps (accounts, core <- assessments <- invites <- hosting <- scoring):
each view loads through a selector and renders; writes go through one service.
"""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.accounts.decorators import role_required, staff_required
from portal.accounts.roles import RECRUITER, REVIEWER
from portal.core.selectors import queues_without_worker, worker_status_list
from portal.hosting.services import bundle_path, clone_url
from portal.invites.models import Invite
from portal.invites.selectors import invite_by_link_token, invite_git_token, submitted_invites
from portal.invites.services import invite_opened_record
from portal.scoring.selectors import invite_run_statuses, runs_pending


@login_required
def home(request):
    """Send each user to the page of their first role."""
    if request.user.has_perm(RECRUITER.permission):
        return redirect("recruiter_dashboard")
    if request.user.has_perm(REVIEWER.permission):
        return redirect("review_queue")
    return render(request, "core/no_role.html")


@role_required(REVIEWER)
def review_queue(request):
    return render(request, "core/review_queue.html", {"submitted": submitted_invites()})


@staff_required
def system_status(request):
    workers = worker_status_list()
    context = {"workers": workers, "queues_without_worker": queues_without_worker(workers=workers)}
    return render(request, "core/system_status.html", context)


# The candidate's side: reached only through the secret link in the invitation.


def _invite_or_404(token: str) -> Invite:
    invite = invite_by_link_token(token=token)
    if invite is None or invite.status == Invite.Status.REVOKED:
        raise Http404("This invitation link is not valid.")
    return invite


@never_cache
@require_GET
def invite_page(request, token: str):
    invite = _invite_or_404(token)
    invite_opened_record(invite=invite)
    context = {
        "invite": invite,
        "token": token,
        "clone_url": clone_url(invite),
        "git_user": invite.public_id,
        "git_password": invite_git_token(invite=invite, link_token=token),
    }
    return render(request, "invites/invite_page.html", context)


@never_cache
@require_GET
def invite_runs(request, token: str):
    """The scoring status of the candidate's pushes; the page polls it (htmx) while any is pending."""
    invite = _invite_or_404(token)
    statuses = invite_run_statuses(invite=invite)
    pending = runs_pending(statuses)
    return render(request, "invites/_runs.html", {"statuses": statuses, "pending": pending, "token": token})


@never_cache
@require_GET
def invite_bundle(request, token: str):
    invite = _invite_or_404(token)
    path = bundle_path(invite)
    if not path.exists():
        raise Http404("The bundle for this invitation is missing; contact the recruiter.")
    slug = invite.assessment_version.assessment.slug
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"{slug}.bundle")
