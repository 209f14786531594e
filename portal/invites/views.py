"""The candidate's side: reached only through the secret link in the invitation."""

from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.hosting.services import bundle_path
from portal.invites.models import Event, Invite
from portal.invites.selectors import invite_by_link_token, invite_git_token
from portal.invites.services import event_record
from portal.scoring.selectors import invite_run_statuses, runs_pending


def _invite_or_404(token: str) -> Invite:
    invite = invite_by_link_token(token=token)
    if invite is None or invite.status == Invite.Status.REVOKED:
        raise Http404("This invitation link is not valid.")
    return invite


def clone_url(invite: Invite) -> str:
    return f"{settings.PORTAL_BASE_URL}/git/{invite.public_id}.git"


@never_cache
@require_GET
def invite_page(request, token: str):
    invite = _invite_or_404(token)
    if not invite.events.filter(kind=Event.Kind.OPENED).exists():
        event_record(invite=invite, kind=Event.Kind.OPENED)
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
