"""The pages people use, over every app: start page, dashboards, the candidate's page, system status.

An entry point above the domain apps (accounts, core <- assessments <- invites <- hosting <- scoring):
each view loads through a selector and renders; writes go through one service.
"""

import functools
from datetime import datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.accounts.decorators import staff_required
from portal.accounts.roles import RECRUITER, REVIEWER
from portal.assessments.local_run import local_run
from portal.assessments.services import version_manifest, version_shipped_dir
from portal.core.markdown import document_html
from portal.core.selectors import queues_without_worker, worker_status_list
from portal.hosting.models import RefUpdate
from portal.hosting.services import bundle_path, clone_url, invite_start, link_failure_record, link_guessing_wait
from portal.invites.models import Invite
from portal.invites.selectors import invite_by_link_token, invite_git_token
from portal.invites.services import invite_opened_record, invite_submit
from portal.reviews.selectors import feedback_released
from portal.scoring.candidate import invite_candidate_runs
from portal.scoring.models import Run
from portal.scoring.selectors import RUN_LONG_AFTER_SECONDS, runs_in_flight
from portal.scoring.services import run_resend


@login_required
def home(request):
    """Send each user to the page of their first role."""
    if request.user.has_perm(RECRUITER.permission):
        return redirect("recruiter_dashboard")
    if request.user.has_perm(REVIEWER.permission):
        return redirect("review_queue")
    return render(request, "core/no_role.html")


@staff_required
@never_cache
def system_status(request):
    workers = worker_status_list()
    context = {
        "workers": workers,
        "queues_without_worker": queues_without_worker(workers=workers),
        **_runs_context(),
    }
    return render(request, "core/system_status.html", context)


def _runs_context() -> dict:
    return {"runs": runs_in_flight(), "run_long_after": RUN_LONG_AFTER_SECONDS}


@staff_required
@never_cache
@require_GET
def system_status_runs(request):
    """The status page's list of runs waiting, running or stuck: polled while it has any."""
    return render(request, "core/_runs_in_flight.html", _runs_context())


@staff_required
@require_POST
def system_status_resend(request, run_id: int):
    """Send a run in flight to the workers again (a new attempt; the old one's task is ignored)."""
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such run.")
    if run.dispatched_at is not None and run_resend(run=run, why=f"sent again by {request.user.get_username()}"):
        messages.success(request, f"Run {run.pk} ({run.ref or run.commit[:7]}) was sent to the workers again.")
    else:
        messages.error(request, f"Run {run.pk} is not waiting for a worker or running: there was nothing to resend.")
    return redirect("system_status")


# The candidate's side: reached only through the secret link in the invitation.


def candidate_link(view):
    """Open the view to the holder of a live invite's link; the same 404 for any other token.

    Unknown and revoked links get the same page, so a link tells nothing about an invite. Every
    refused link counts against the client's address; past the limit, that address gets 429 for
    all invite links, right or wrong, until the window has passed.
    """

    @functools.wraps(view)
    def wrapper(request, token: str):
        address = request.META.get("REMOTE_ADDR")
        wait = link_guessing_wait(address=address)
        if wait is not None:
            response = render(request, "invites/link_blocked.html", status=429)
            response["Retry-After"] = str(wait)
            return response
        invite = invite_by_link_token(token=token)
        if invite is None or invite.status == Invite.Status.REVOKED:
            link_failure_record(address=address)
            return render(request, "invites/link_invalid.html", status=404)
        return view(request, invite, token)

    return wrapper


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration_words(duration: timedelta) -> str:
    """A duration in its two largest units, rounded down: "2 days 3 hours", "40 minutes"."""
    minutes = int(duration.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [_plural(n, unit) for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    return " ".join(parts[:2]) if parts else "less than a minute"


def time_left_words(closes_at: datetime, now: datetime) -> str:
    """How long until ``closes_at``, for a clock that has not run out: "2 days 3 hours left"."""
    remaining = closes_at - now
    if remaining < timedelta(hours=1):
        return f"closes in {duration_words(remaining)}"
    return f"{duration_words(remaining)} left"


def _time_context(invite: Invite) -> dict:
    now = timezone.now()
    closes_at = invite.closes_at
    expired = invite.is_expired(now)
    waiting = bool(invite.time_limit and not invite.started_at)
    return {
        "closes_at": closes_at,
        "expired": expired,
        "time_left": time_left_words(closes_at, now) if closes_at and not expired else "",
        # A time limit whose clock has not started: it starts with Start, the first clone or the bundle.
        "time_limit": duration_words(invite.time_limit) if waiting else "",
        "can_start": waiting and invite.status == Invite.Status.ACTIVE and not expired,
    }


def _pushed_branches(invite: Invite) -> list[str]:
    """The branches the candidate's pushes left in their repository, by name."""
    last_kind = {}
    for ref, kind in (
        RefUpdate.objects.filter(push__invite=invite, ref__startswith="refs/heads/")
        .order_by("id")
        .values_list("ref", "kind")
    ):
        last_kind[ref.removeprefix("refs/heads/")] = kind
    return sorted(branch for branch, kind in last_kind.items() if kind != RefUpdate.Kind.DELETED)


@never_cache
@require_GET
@candidate_link
def invite_page(request, invite: Invite, token: str):
    """The candidate's page. Before a time limit starts it shows only what the time is and a Start
    button: the instructions, tickets and repository appear once the clock runs, so nobody reads the
    tickets on time that is not counted."""
    invite_opened_record(invite=invite)
    version = invite.assessment_version
    times = _time_context(invite)
    # The reviewers' feedback, once released: nothing of it exists for the candidate before.
    context = {"invite": invite, "token": token, "feedback": feedback_released(invite=invite), **times}
    if not times["can_start"]:
        shipped = version_shipped_dir(version)
        manifest = version_manifest(version)
        context |= {
            # In the page itself: no "Loading…" first, and it reads without JavaScript.
            "runs": invite_candidate_runs(invite=invite),
            "clone_url": clone_url(invite),
            "git_user": invite.public_id,
            "git_password": invite_git_token(invite=invite, link_token=token),
            "readme_html": document_html(shipped, "README.md", content_hash=version.content_hash),
            "tickets_html": document_html(shipped, "tickets.md", content_hash=version.content_hash),
            "tickets": manifest.tickets,
            "local_run": local_run(manifest, shipped=shipped),
        }
    return render(request, "invites/invite_page.html", context)


@never_cache
@require_http_methods(["POST"])
@candidate_link
def invite_start_page(request, invite: Invite, token: str):
    """Start the clock of a time limit (once; a second press, or a closed invite, changes nothing)."""
    if invite.status == Invite.Status.ACTIVE and not invite.is_expired(timezone.now()):
        invite_start(invite=invite, via="button", address=request.META.get("REMOTE_ADDR"))
    return redirect("invite_page", token=token)


@never_cache
@require_http_methods(["GET", "POST"])
@candidate_link
def invite_submit_page(request, invite: Invite, token: str):
    """Confirm, then submit. Once submitted, or once time is over, both lead back to the invite page."""
    expired = invite.is_expired(timezone.now())
    if invite.status != Invite.Status.ACTIVE or expired:
        return redirect("invite_page", token=token)
    if request.method == "POST":
        invite_submit(invite=invite)
        return redirect("invite_page", token=token)
    context = {"invite": invite, "token": token, "branches": _pushed_branches(invite), **_time_context(invite)}
    return render(request, "invites/invite_submit.html", context)


@never_cache
@require_GET
@candidate_link
def invite_runs(request, invite: Invite, token: str):
    """The candidate's pushes and their scoring; the page asks again every few seconds while a push
    may still come or a run is pending. ``state`` is what the asking copy shows: if nothing changed,
    204 (htmx leaves the page as it is)."""
    runs = invite_candidate_runs(invite=invite)
    if request.GET.get("state") == runs.state:
        return HttpResponse(status=204)
    return render(request, "invites/_runs.html", {"runs": runs, "token": token})


@never_cache
@require_GET
@candidate_link
def invite_bundle(request, invite: Invite, token: str):
    path = bundle_path(invite)
    if not path.exists():
        raise Http404("The bundle for this invitation is missing; contact the recruiter.")
    if invite.status == Invite.Status.ACTIVE:
        # The code is in the candidate's hands: a time limit starts now, as with a clone.
        invite_start(invite=invite, via="bundle", address=request.META.get("REMOTE_ADDR"))
    slug = invite.assessment_version.assessment.slug
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"{slug}.bundle")
